"""Provider layer against the loopback server through the real openai SDK: every fault maps
to a readable error kind, usage is the provider's or a flagged estimate, keys never leak."""

from __future__ import annotations

import time

import openai
import pytest

from app.core.calling.providers import PLACEHOLDER_KEY, ProviderError, ProviderPool, StreamState
from tests.loopback_server import Fault

MSGS = [{"role": "user", "content": "Say hello"}]


async def _run(pool: ProviderPool, tier_name: str = "cheap", logprobs: bool = False,
               messages=None) -> tuple[StreamState, list[str]]:
    tier = pool.settings.tier(tier_name)
    st = StreamState(tier.provider, tier.name, tier.model, messages or list(MSGS))
    got = [d async for d in pool.stream(tier, st, logprobs=logprobs)]
    return st, got


@pytest.fixture
async def pool(loopback_settings):
    p = ProviderPool(loopback_settings())
    yield p
    await p.aclose()


async def test_loopback_fixture_streams_through_the_sdk(loopback, loopback_settings):
    settings = loopback_settings()
    assert settings.tier("mid").model == "mid-model"
    loopback.fail_next(Fault.http(503))
    client = openai.AsyncOpenAI(base_url=loopback.base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await client.close()
    assert text == loopback.reply
    assert loopback.bodies()[-1]["messages"] == [{"role": "user", "content": "x"}]


async def test_stream_with_provider_usage(loopback, pool):
    st, got = await _run(pool)
    assert "".join(got) == loopback.reply == st.text
    assert st.finish_reason == "stop"
    assert st.usage().source == "provider"
    assert st.usage().output_tokens == len(got)
    assert st.ttft_s is not None and st.ttft_s <= st.latency_s
    body = loopback.bodies()[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "cheap-model"


async def test_no_usage_chunk_is_estimated(loopback, pool):
    loopback.send_usage = False
    st, _ = await _run(pool)
    u = st.usage()
    assert u.source == "estimated" and u.input_tokens > 0 and u.output_tokens > 0


@pytest.mark.parametrize("usage", [{"prompt_tokens": -5}, {}, {"prompt_tokens": 7}])
async def test_missing_or_negative_usage_fields_are_estimated(loopback, pool, usage):
    loopback.fail_next(Fault.bad_usage(usage))
    st, _ = await _run(pool)
    u = st.usage()
    assert u.source == "estimated"
    assert u.input_tokens >= 0 and u.output_tokens > 0
    if usage.get("prompt_tokens") == 7:
        assert u.input_tokens == 7  # the valid field is kept, only the missing one estimated


async def test_logprobs_requested_and_collected(loopback, pool):
    loopback.logprob = -0.25
    st, _ = await _run(pool, logprobs=True)
    assert loopback.bodies()[-1]["logprobs"] is True
    assert st.mean_logprob == pytest.approx(-0.25)
    loopback.logprobs_supported = False
    st, _ = await _run(pool, logprobs=True)
    assert st.mean_logprob is None


async def test_max_output_tokens_sent_and_length_finish(loopback, loopback_config):
    from app.core.config.loader import load_settings

    path = loopback_config()
    text = path.read_text().replace('model = "cheap-model"\n',
                                    'model = "cheap-model"\nmax_output_tokens = 2\n')
    path.write_text(text)
    pool = ProviderPool(load_settings(path))
    try:
        st, got = await _run(pool)
    finally:
        await pool.aclose()
    assert loopback.bodies()[-1]["max_tokens"] == 2
    assert len(got) == 2 and st.finish_reason == "length"


@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "words"),
    [
        (Fault.http(401), "auth", False, "api_key_env"),
        (Fault.http(403), "auth", False, "HTTP 403"),
        (Fault.http(404), "not_found", False, "check the model name in [[tiers]]"),
        (Fault.http(429, retry_after=0.05), "rate_limit", True, "HTTP 429"),
        (Fault.http(500), "server", True, "HTTP 500"),
        (Fault.http(503), "server", True, "HTTP 503"),
        (Fault.stall(3), "timeout", True, "first_token_timeout_s"),
        (Fault.hang(), "timeout", True, "first_token_timeout_s"),
        (Fault.cut(2), "truncated", True, "not complete"),
        (Fault.malformed(1), "bad_response", True, "malformed"),
        (Fault.non_json(), "bad_response", True, "event stream"),
    ],
)
async def test_fault_maps_to_error_kind(loopback, loopback_settings, fault, kind, retryable,
                                        words):
    pool = ProviderPool(loopback_settings(first_token_timeout_s=0.4))
    loopback.fail_next(fault)
    tier = pool.settings.tier("cheap")
    st = StreamState(tier.provider, tier.name, tier.model, list(MSGS))
    start = time.perf_counter()
    with pytest.raises(ProviderError) as info:
        async for _ in pool.stream(tier, st):
            pass
    await pool.aclose()
    err = info.value
    assert err.kind == kind and err.retryable is retryable
    assert "loop/cheap-model" in err.message and words in err.message
    assert time.perf_counter() - start < 2.0  # stalls end at the 0.4 s first-token timeout
    if kind == "rate_limit":
        assert err.retry_after == pytest.approx(0.05)
    if kind in ("truncated", "bad_response") and fault.kind != "non_json":
        assert st.text  # the partial text is kept


async def test_total_timeout_on_slow_stream(loopback, loopback_settings):
    pool = ProviderPool(loopback_settings(total_timeout_s=0.3))
    loopback.fail_next(Fault.slow(tokens_per_s=10))
    tier = pool.settings.tier("cheap")
    st = StreamState(tier.provider, tier.name, tier.model, list(MSGS))
    with pytest.raises(ProviderError) as info:
        async for _ in pool.stream(tier, st):
            pass
    await pool.aclose()
    assert info.value.kind == "timeout" and "total_timeout_s" in info.value.message
    assert st.text  # what arrived before the deadline is kept


async def test_slow_stream_within_limits_completes(loopback, pool):
    loopback.fail_next(Fault.slow(tokens_per_s=200))
    st, got = await _run(pool)
    assert "".join(got) == loopback.reply


async def test_connection_refused(loopback_settings):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = loopback_settings()
    settings.providers["loop"].base_url = f"http://127.0.0.1:{port}/v1"
    pool = ProviderPool(settings)
    with pytest.raises(ProviderError) as info:
        await _run(pool)
    await pool.aclose()
    assert info.value.kind == "connection"
    assert "is the server running" in info.value.message and str(port) in info.value.message


async def test_keyless_uses_placeholder_and_key_from_env(loopback, loopback_settings, monkeypatch):
    pool = ProviderPool(loopback_settings())
    await _run(pool)
    await pool.aclose()
    assert loopback.requests[-1].headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    monkeypatch.setenv("RD_LOOP_KEY", "sk-test-secret-123456")
    pool = ProviderPool(loopback_settings(key_env="RD_LOOP_KEY"))
    await _run(pool)
    assert pool.client("loop") is pool.client("loop")  # created once, reused
    await pool.aclose()
    assert loopback.requests[-1].headers["authorization"] == "Bearer sk-test-secret-123456"


@pytest.mark.reliability
async def test_auth_error_message_never_contains_the_key(loopback, loopback_settings, monkeypatch):
    key = "sk-live-SUPERSECRET-abcdef0123456789"
    monkeypatch.setenv("RD_LOOP_KEY", key)
    loopback.fail_next(Fault.http(401), Fault.http(429), Fault.http(500))
    pool = ProviderPool(loopback_settings(key_env="RD_LOOP_KEY"))
    messages = []
    for _ in range(3):
        with pytest.raises(ProviderError) as info:
            await _run(pool)
        messages.append(info.value.message)
    await pool.aclose()
    assert all(key not in m and "SUPERSECRET" not in m for m in messages)
    assert "RD_LOOP_KEY" in messages[0]


def test_scrub_masks_keylike_text():
    from app.core.calling.providers import scrub

    assert "abcdef" not in scrub("Incorrect API key provided: sk-proj-abcdef123456")
    assert scrub("token xyz-secret here", "xyz-secret") == "token *** here"


async def test_loopback_non_streaming_and_models(loopback):
    client = openai.AsyncOpenAI(base_url=loopback.base_url, api_key="unused", max_retries=0)
    res = await client.chat.completions.create(model="m", messages=MSGS, logprobs=True)
    models = await client.models.list()
    await client.close()
    assert res.choices[0].message.content == loopback.reply
    assert res.usage.completion_tokens == 5 and res.choices[0].logprobs.content[0].logprob < 0
    assert [m.id for m in models.data] == ["loopback-model"]


async def test_connection_lost_after_finish_reason_keeps_the_complete_answer(loopback, pool):
    loopback.fail_next(Fault.cut_tail())
    st, got = await _run(pool)
    assert "".join(got) == loopback.reply and st.finish_reason == "stop"
    assert st.usage().source == "estimated"
