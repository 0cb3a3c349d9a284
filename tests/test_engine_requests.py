"""What the engine sends and how it ends a turn: system prompts (global, tier, session),
per-tier request parameters, the output cap enforced on the client, a stall that falls back
instead of being retried, cut answers marked as cut, and a cancel before the first token."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.core.calling.engine import Engine
from app.core.calling.events import AttemptStarted, TurnFinished
from app.core.config.loader import load_settings
from app.core.config.settings import Settings
from tests.fakes import ListRecorder
from tests.loopback_server import Fault


async def run(engine: Engine, prompt: str = "hello there", **kw) -> list:
    return [e async for e in engine.run_turn(prompt, [], **kw)]


def test_defaults_a_user_would_accept():
    s = Settings()
    assert s.providers["openai"].first_token_timeout_s == 30
    assert s.providers["openai"].total_timeout_s == 180
    assert all(t.max_output_tokens == 4096 for t in s.tiers)


async def test_system_prompt_global_then_tier_then_session(loopback, loopback_config):
    cfg = loopback_config(extra='\n[chat]\nsystem_prompt = "Be brief."\n')
    text = cfg.read_text().replace('model = "mid-model"\n',
                                   'model = "mid-model"\nsystem_prompt = "You are mid."\n')
    cfg.write_text(text)
    engine = Engine(load_settings(cfg))
    await run(engine, tier="cheap")
    await run(engine, tier="mid")
    await run(engine, tier="mid", system="Session rules.")
    await engine.aclose()
    firsts = [b["messages"][0] for b in loopback.bodies()]
    assert firsts == [{"role": "system", "content": "Be brief."},
                      {"role": "system", "content": "You are mid."},
                      {"role": "system", "content": "Session rules."}]


async def test_no_system_message_when_none_is_configured(loopback, loopback_settings):
    engine = Engine(loopback_settings())
    await run(engine, tier="cheap")
    await engine.aclose()
    assert [m["role"] for m in loopback.bodies()[0]["messages"]] == ["user"]


async def test_tier_request_parameters_are_sent(loopback, loopback_config):
    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace(
        'model = "cheap-model"\n',
        'model = "cheap-model"\ntemperature = 0.2\ntop_p = 0.9\nmax_output_tokens = 300\n'
        'extra_body = { seed = 7 }\n'))
    engine = Engine(load_settings(cfg))
    await run(engine, tier="cheap")
    await engine.aclose()
    body = loopback.bodies()[0]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == \
        (0.2, 0.9, 300, 7)


def test_extra_body_cannot_replace_the_request(loopback_config):
    from app.core.config.errors import ConfigError

    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace(
        'model = "cheap-model"\n', 'model = "cheap-model"\nextra_body = { messages = [] }\n'))
    with pytest.raises(ConfigError, match="messages are set by RouteDeck"):
        load_settings(cfg)


async def test_a_server_that_ignores_max_tokens_is_cut_and_marked(loopback, loopback_config):
    loopback.control.honour_max_tokens = False
    loopback.reply = " ".join(f"word{i}" for i in range(2000))
    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace('model = "cheap-model"\n',
                                           'model = "cheap-model"\nmax_output_tokens = 20\n'))
    rec = ListRecorder()
    engine = Engine(load_settings(cfg), recorder=rec)
    events = await run(engine, tier="cheap")
    await engine.aclose()
    fin = events[-1]
    assert fin.status == "truncated" and fin.answer.finish_reason == "length"
    assert 0 < len(fin.answer.text) <= 20 * 8 + 20  # the client's cap, not 2,000 words
    assert "max_output_tokens (20)" in fin.message
    assert rec.rows[-1].status == "truncated" and rec.rows[-1].error_kind == "length"


async def test_cut_at_max_tokens_is_truncated_everywhere(loopback, loopback_config):
    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace('model = "cheap-model"\n',
                                           'model = "cheap-model"\nmax_output_tokens = 2\n'))
    rec = ListRecorder()
    engine = Engine(load_settings(cfg), recorder=rec)
    fin = (await run(engine, tier="cheap"))[-1]
    await engine.aclose()
    assert fin.status == "truncated" and fin.answered  # the text stands, marked as cut
    assert rec.rows[-1].status == "truncated"


async def test_a_stall_falls_back_at_once_instead_of_waiting_again(loopback, loopback_config):
    loopback.fail_always(Fault.stall(30), model="cheap-model")
    engine = Engine(load_settings(loopback_config(first_token_timeout_s=0.6, max_retries=2)))
    start = time.monotonic()
    events = await run(engine, tier=None)
    await engine.aclose()
    took = time.monotonic() - start
    attempts = [(a.tier, a.why) for a in events if isinstance(a, AttemptStarted)]
    assert attempts == [("cheap", "routed"), ("mid", "fallback")]  # no retry of the stall
    assert events[-1].status == "ok" and took < 2.0


async def test_cancel_before_the_first_token_ends_the_turn_at_once(loopback, loopback_settings):
    loopback.fail_always(Fault.hang())
    rec = ListRecorder()
    engine = Engine(loopback_settings(first_token_timeout_s=60), recorder=rec)
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, cancel.set)
    start = time.monotonic()
    events = await run(engine, tier="cheap", cancel=cancel)
    took = time.monotonic() - start
    await engine.aclose()
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "cancelled" and took < 1.5
    assert [r.status for r in rec.rows] == ["cancelled"]
