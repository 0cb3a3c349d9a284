"""Cascade (off by default): the cheap answer is asked with logprobs, buffered and judged;
low confidence, empty, cut-short or refusing answers are re-asked one tier up."""

from __future__ import annotations

import pytest

from app.core.calling.cascade import is_refusal, judge
from app.core.calling.engine import Engine
from app.core.calling.events import (
    AttemptStarted,
    Escalated,
    StickyTier,
    TextDelta,
    UsageReported,
)
from app.core.routing.policy import SessionState
from tests.fakes import ListRecorder

PROMPT = "hello there"  # routed to the cheap tier



@pytest.fixture
async def cascade_engine(loopback_settings):
    engines = []

    def make(**kw) -> Engine:
        e = Engine(loopback_settings(cascade=True, **kw), ListRecorder())
        engines.append(e)
        return e

    yield make
    for e in engines:
        await e.aclose()


async def turn(engine: Engine, state=None, **kw) -> list:
    return [e async for e in engine.run_turn(PROMPT, [], state=state, **kw)]


async def test_confident_cheap_answer_is_kept(loopback, cascade_engine):
    engine = cascade_engine()
    events = await turn(engine)
    assert events[0].decision.tier == "cheap"
    assert loopback.bodies()[-1]["logprobs"] is True
    assert not [e for e in events if isinstance(e, Escalated)]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == [loopback.reply]  # buffered, then emitted whole once accepted
    assert events[-1].status == "ok" and events[-1].answer.tier == "cheap"
    assert engine.recorder.rows[-1].extra["cascade"] == "accepted"
    assert float(engine.recorder.rows[-1].extra["mean_logprob"]) == pytest.approx(-0.05)


async def test_low_logprob_escalates_one_tier_up(loopback, cascade_engine):
    engine = cascade_engine(min_mean_logprob=-1.0)
    loopback.logprob = -2.5
    loopback.replies["cheap-model"] = "Maybe it is something."
    state = SessionState()
    events = await turn(engine, state)
    esc, = [e for e in events if isinstance(e, Escalated)]
    assert (esc.from_tier, esc.to_tier) == ("cheap", "mid")
    assert "mean token logprob -2.50 < -1.00" in esc.reason
    texts = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "Maybe" not in texts and texts == loopback.reply  # the rejected answer never shows
    assert [(a.tier, a.why) for a in events if isinstance(a, AttemptStarted)] == [
        ("cheap", "routed"), ("mid", "escalation")]
    assert "logprobs" not in loopback.bodies()[-1]  # the tier up streams normally
    fin = events[-1]
    assert fin.status == "ok" and fin.answer.tier == "mid" and fin.answer.escalated_from == "cheap"
    cheap, mid = engine.recorder.rows
    assert cheap.status == "ok" and cheap.extra["cascade"] == "rejected"
    assert mid.escalated and mid.escalation_reason == esc.reason
    paid = [e.cost_usd for e in events if isinstance(e, UsageReported)]
    assert fin.answer.cost_usd == pytest.approx(sum(paid))  # both answers were paid for
    sticky, = [e for e in events if isinstance(e, StickyTier)]
    assert sticky.tier == "mid" and state.sticky_tier is None


@pytest.mark.parametrize(("reply", "why"), [
    ("I'm sorry, but I can't help with that request.", "refused"),
    ("", "empty"),
])
async def test_refusal_or_empty_escalates_without_logprobs(loopback, cascade_engine, reply, why):
    engine = cascade_engine()
    loopback.logprobs_supported = False
    loopback.replies["cheap-model"] = reply
    events = await turn(engine)
    esc, = [e for e in events if isinstance(e, Escalated)]
    assert why in esc.reason and events[-1].answer.tier == "mid"


async def test_server_without_logprobs_keeps_a_plain_answer(loopback, cascade_engine):
    engine = cascade_engine(min_mean_logprob=-0.01)
    loopback.logprobs_supported = False
    events = await turn(engine)
    assert not [e for e in events if isinstance(e, Escalated)]
    assert events[-1].answer.tier == "cheap"


async def test_cut_at_token_limit_escalates(loopback, cascade_engine):
    engine = cascade_engine()
    engine.settings.tier("cheap").max_output_tokens = 2
    events = await turn(engine)
    esc, = [e for e in events if isinstance(e, Escalated)]
    assert "token limit" in esc.reason and events[-1].answer.tier == "mid"


async def test_cascade_off_by_default_and_never_second_guesses_a_force(loopback,
                                                                       loopback_settings,
                                                                       cascade_engine):
    plain = Engine(loopback_settings())
    await turn(plain)
    await plain.aclose()
    assert "logprobs" not in loopback.bodies()[-1]
    engine = cascade_engine()
    loopback.logprob = -5
    events = await turn(engine, tier="cheap")
    assert not [e for e in events if isinstance(e, Escalated)]
    assert "logprobs" not in loopback.bodies()[-1]


async def test_failed_cheap_attempt_still_falls_back(loopback, cascade_engine):
    from tests.loopback_server import Fault

    engine = cascade_engine(max_retries=0)
    loopback.fail_next(Fault.http(500), model="cheap-model")
    events = await turn(engine)
    assert [(a.tier, a.why) for a in events if isinstance(a, AttemptStarted)] == [
        ("cheap", "routed"), ("mid", "fallback")]
    assert events[-1].status == "ok" and events[-1].answer.tier == "mid"


@pytest.mark.parametrize("text", [
    "I'm sorry, but I cannot assist with that.",
    "I can't help with that.",
    "Sorry, I can't do that.",
    "As an AI language model, I cannot browse the internet.",
    "I apologize, but I am unable to provide that information.",
    "I\u2019m sorry, I won\u2019t share that.",
])
def test_refusals_detected(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "Sure! Here is the answer.",
    "The function can't return None because the type forbids it.",
    "I'm happy to help: 2 + 2 = 4.",
])
def test_non_refusals_pass(text):
    assert not is_refusal(text)


def test_judge_order():
    assert judge("ok", "stop", None, -1.0) is None
    assert judge("ok", None, None, -1.0) == "the cheap answer was truncated"
    assert judge("ok", "stop", -0.5, -1.0) is None
