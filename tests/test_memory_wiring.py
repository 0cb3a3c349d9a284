"""The user's verdicts move routing at once in every face: the console session's next
similar prompt, `routedeck route` and `routedeck audit`; confidence is measured against the
threshold in force."""

from __future__ import annotations

import json

from click.testing import CliRunner

from app.cli import cli
from app.core.config.loader import load_settings
from app.core.conversation.session import ConsoleSession
from app.core.routing.policy import route, threshold_confidence

PROMPT = "Write a short product description for a stainless steel water bottle"
SIMILAR = "Write a short product description for a stainless steel travel mug"


async def drain(agen):
    async for _ in agen:
        pass


async def test_a_premium_better_verdict_moves_a_similar_prompt_at_once(loopback,
                                                                     loopback_config):
    loopback.replies["mid-model"] = "a better description"
    cfg = loopback_config()
    settings = load_settings(cfg)
    before = route(SIMILAR, settings)
    session = ConsoleSession(settings)
    session.open()
    try:
        await drain(session.run_turn(session.start_turn(PROMPT)))
        assert session.conversation[0].decision.tier == before.tier
        await drain(session.escalate())
        session.judge("premium_better")
        index = session.start_turn(SIMILAR)
        await drain(session.run_turn(index))
        after = session.conversation[index].decision
    finally:
        await session.aclose()
    assert after.memory_note.startswith("you judged a similar prompt: premium was better")
    assert after.score > before.score and "you judged a similar prompt" in after.reason
    # Every face sees the same memory: `route` reads the verdicts from the store.
    res = CliRunner().invoke(cli, ["--config", str(cfg), "route", "--json", SIMILAR],
                             catch_exceptions=False)
    row = json.loads(res.stdout)
    assert row["memory"] == after.memory_note and row["score"] == round(after.score, 4)


def test_route_without_a_ledger_creates_none(tmp_path, isolated_home):
    res = CliRunner().invoke(cli, ["route", "hi"], catch_exceptions=False)
    assert res.exit_code == 0
    assert not (isolated_home / "data" / "routedeck.db").exists()


def test_confidence_is_measured_against_the_threshold():
    assert threshold_confidence(0.2, [0.2]) == 0.0  # on the boundary: no confidence
    assert threshold_confidence(0.1, [0.2]) == 0.5  # halfway from the boundary to 0
    assert abs(threshold_confidence(0.6, [0.2]) - 0.5) < 1e-9  # halfway to 1
    assert threshold_confidence(0.0, [0.2]) == 1.0
    assert threshold_confidence(0.5, [0.33, 0.66]) < threshold_confidence(0.9, [0.33, 0.66])
