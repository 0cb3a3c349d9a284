"""Provider layer against the loopback server through the real openai SDK."""

from __future__ import annotations

import openai

from tests.loopback_server import Fault


async def test_loopback_fixture_streams_through_the_sdk(loopback, loopback_settings):
    settings = loopback_settings()
    assert settings.tier("mid").model == "mid-model"
    loopback.fail_next(Fault.http(503))
    client = openai.AsyncOpenAI(base_url=loopback.base_url, api_key="unused", max_retries=0)
    try:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    except openai.InternalServerError as exc:
        assert exc.status_code == 503
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await client.close()
    assert text == loopback.reply
    assert loopback.bodies()[-1]["messages"] == [{"role": "user", "content": "x"}]
