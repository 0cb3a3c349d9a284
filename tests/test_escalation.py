"""Escalate/compare in the core (no Textual): plans, verdicts, stickiness, resumed sessions."""

from __future__ import annotations

import pytest

from app.core.calling.events import TurnFinished
from app.core.conversation.escalation import EscalationRefused, keeps_compared, target_tier
from app.core.conversation.session import ConsoleSession
from app.core.ledger.reader import Ledger


async def drain(agen) -> TurnFinished:
    final = None
    async for ev in agen:
        if isinstance(ev, TurnFinished):
            final = ev
    assert final is not None
    return final


async def answered(settings, *prompts: str) -> ConsoleSession:
    """A new session in which each prompt was asked and answered."""
    session = ConsoleSession(settings)
    session.open()
    for prompt in prompts:
        await drain(session.run_turn(session.start_turn(prompt)))
    return session


def test_target_tier_next_up_chosen_and_top(loopback_settings):
    s = loopback_settings()
    assert target_tier(s, "cheap", 1, None) == "mid"
    assert target_tier(s, "mid", 1, None) == "premium"
    assert target_tier(s, "premium", 2, "cheap") == "cheap"
    with pytest.raises(EscalationRefused, match="already answered on the top tier"):
        target_tier(s, "premium", 2, None)
    with pytest.raises(EscalationRefused, match="already answered on cheap"):
        target_tier(s, "cheap", 1, "cheap")
    with pytest.raises(EscalationRefused, match="unknown tier 'gold'"):
        target_tier(s, "cheap", 1, "gold")


def test_the_better_answer_is_kept():
    assert keeps_compared("premium_better", upward=True)
    assert not keeps_compared("premium_better", upward=False)  # the given one was premium
    assert not keeps_compared("cheap_enough", upward=True)
    assert not keeps_compared("tie", upward=True)
    with pytest.raises(ValueError):
        keeps_compared("great", upward=True)


async def test_no_sticky_when_configured_off_and_downward_pair_is_cheaper_first(
        loopback, loopback_settings, monkeypatch):
    loopback.reply = "cheap words"
    loopback.replies["premium-model"] = "premium words"
    monkeypatch.setenv("ROUTEDECK_ROUTER__STICKY_AFTER_PREMIUM_VERDICT", "false")
    settings = loopback_settings()
    assert not settings.router.sticky_after_premium_verdict
    session = ConsoleSession(settings, pin_tier="premium")
    session.open()
    try:
        assert (await drain(session.run_turn(session.start_turn("hi")))).answer.tier == "premium"
        with pytest.raises(EscalationRefused, match="top tier"):
            session.plan_escalation()
        fin = await drain(session.escalate(0, "cheap"))
        assert fin.answer.tier == "cheap" and session.pending is not None
        judged = session.judge("premium_better")
        # Compared downwards: the premium answer given stays; the pair is stored cheaper first.
        assert not judged.kept_compared and session.conversation.history()[1]["content"] == "premium words"
        assert session.state.sticky_tier is None and judged.sticky_note == ""
        store = session.store()
        [v] = store.verdicts()
        assert store.request(v["answer_request_id"])["tier"] == "cheap"
        assert store.request(v["compared_request_id"])["tier"] == "premium"
        assert Ledger(store).satisfaction()["cheap-model"].rate == 0.0
        with pytest.raises(EscalationRefused, match="nothing to judge|no finished"):
            session.judge("tie")
    finally:
        await session.aclose()


async def test_resumed_session_escalates_an_old_turn_with_its_history(loopback, loopback_settings):
    loopback.reply = "cheap words"
    loopback.replies["mid-model"] = "mid words"
    settings = loopback_settings()
    first = await answered(settings, "name a colour", "another one")
    sid = first.session_id
    await first.aclose()

    again = ConsoleSession(settings)
    again.open(sid)
    try:
        assert [t.prompt for t in again.conversation.turns] == ["name a colour", "another one"]
        restored = again.conversation[1].answer
        assert restored.tier == "cheap" and restored.request_ids and restored.cost_usd > 0
        plan = again.plan_escalation(1)
        assert plan.tier == "mid" and [m["content"] for m in plan.history] == ["name a colour", "cheap words"]
        await drain(again.escalate(1))
        body = loopback.bodies()[-1]
        assert [m["content"] for m in body["messages"]] == ["name a colour", "cheap words", "another one"]
        again.judge("premium_better")
        assert again.conversation.history()[3]["content"] == "mid words"
        assert again.session_id is not None
        assert again.store().messages(again.session_id)[3]["content"] == "mid words"
        assert again.state.sticky_reason == "you judged mid better on turn 2"
        assert again.cycle_pin() is None and again.state.sticky_tier is None  # ends stickiness
        assert again.cycle_pin() == "cheap"  # then cycles pins as before
    finally:
        await again.aclose()


async def test_a_new_or_resumed_session_starts_without_the_last_ones_stickiness(
        loopback, loopback_settings):
    loopback.reply = "cheap words"
    loopback.replies["mid-model"] = "mid words"
    session = ConsoleSession(loopback_settings())
    session.open()
    try:
        await drain(session.run_turn(session.start_turn("What is the capital of France?")))
        first = session.session_id
        await drain(session.escalate(0))
        session.judge("premium_better")
        assert session.state.sticky_tier == "mid"
        session.state.force_next = "premium"
        session.new_session()
        # "The rest of the session stays on that tier": the next session routes afresh.
        assert session.state.sticky_tier is None and session.state.sticky_reason == ""
        assert session.state.force_next is None and session.pending is None
        fin = await drain(session.run_turn(session.start_turn("thanks!")))
        assert fin.answer.tier == "cheap"
        session.set_pin("mid")
        session.state.sticky_tier = "premium"
        session.resume(first)
        assert session.state.sticky_tier is None
        assert session.state.pinned_tier == "mid"  # a pin is the user's own: it stays
    finally:
        await session.aclose()


def test_compare_after_only_a_cancelled_turn_says_why(loopback_settings):
    from app.core.conversation.escalation import make_plan
    from app.core.conversation.turn import Conversation

    settings = loopback_settings()
    with pytest.raises(EscalationRefused, match="ask something first"):
        make_plan(settings, Conversation(), None, None)
    conversation = Conversation()
    conversation.start("Write a long story")  # cancelled: no answer kept
    with pytest.raises(EscalationRefused, match="a cancelled or failed one does not count"):
        make_plan(settings, conversation, None, None)


async def test_an_offline_session_is_titled_by_its_first_prompt():
    from app.core.config.loader import load_settings

    session = ConsoleSession(load_settings(None))  # no API key in tests: offline
    session.open()
    try:
        assert session.offline
        fin = await drain(session.run_turn(session.start_turn("Summarise the meeting notes")))
        assert fin.status == "offline"
        await drain(session.run_turn(session.start_turn("hi")))
        [info] = [s for s in session.list_sessions() if s.id == session.session_id]
        assert info.title == "Summarise the meeting notes"
    finally:
        await session.aclose()


async def test_a_kept_compare_answer_is_still_marked_after_resume(loopback, loopback_settings):
    loopback.reply = "cheap words"
    loopback.replies["mid-model"] = "mid words"
    settings = loopback_settings()
    first = await answered(settings, "one", "two")
    await drain(first.escalate(0))
    first.judge("premium_better")  # keeps the mid answer for turn 1
    assert first.conversation[0].answer.text == "mid words"
    sid = first.session_id
    await first.aclose()
    again = ConsoleSession(settings)
    again.open(sid)
    try:
        kept, plain = again.conversation[0].answer, again.conversation[1].answer
        assert kept.text == "mid words" and kept.tier == "mid" and kept.kept_after_compare
        assert plain.text == "cheap words" and not plain.kept_after_compare
    finally:
        await again.aclose()
