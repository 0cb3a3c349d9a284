"""Snapshot tests of the compare view, with the console snapshots' deterministic harness
(fixed size, fresh ROUTEDECK_HOME, config prices, scripted engine, fixed decisions, no cursor
blink, animations off)."""

from __future__ import annotations

import time

from app.tui.screens.compare import CompareScreen
from tests.snapshots.test_console_snapshots import (
    SIZE,
    ask,
    cheap_decision,
    premium_decision,
    scripted,  # noqa: F401 - the fixture
    settings_for,
)
from tests.tui.helpers import Step, make_app

QUESTION = "Which plan is cheaper for 2,000 users, A or B?"
CHEAP_ANSWER = "Plan **A** is cheaper: $120 a month against $150 for plan B."
PREMIUM_ANSWER = ("Plan **A** is cheaper at 2,000 users: $120 a month against $150 for plan B.\n\n"
                  "- A charges per seat, so B wins above 3,000 users.\n"
                  "- Both include support.")


async def open_compare(pilot) -> None:
    app = pilot.app
    await pilot.press("ctrl+e")
    deadline = time.monotonic() + 5
    while not isinstance(app.screen, CompareScreen) or app.screen.other is None:
        assert time.monotonic() < deadline, "the compare view did not finish"
        await pilot.pause(0.02)
    while any(w.group in ("answer-stream", "compare") and w.is_running for w in app.workers):
        assert time.monotonic() < deadline, "answers did not settle"
        await pilot.pause(0.02)
    await pilot.pause()


def _script(settings, scripted):  # noqa: F811 - the fixture's class
    scripted.script = [
        Step(CHEAP_ANSWER, input_tokens=40, output_tokens=18, latency_s=0.42,
             decision=cheap_decision(settings, "analysis")),
        Step(PREMIUM_ANSWER, tier="premium", input_tokens=40, output_tokens=52, latency_s=1.9,
             decision=premium_decision(settings)),
    ]


def _compare_app(tmp_path, scripted):  # noqa: F811
    settings = settings_for(tmp_path)
    _script(settings, scripted)
    return make_app(settings, engine_factory=scripted)


def test_compare_view(snap_compare, tmp_path, scripted):  # noqa: F811
    app = _compare_app(tmp_path, scripted)

    async def run_before(pilot):
        await ask(pilot, QUESTION)
        await open_compare(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_compare_diff(snap_compare, tmp_path, scripted):  # noqa: F811
    app = _compare_app(tmp_path, scripted)

    async def run_before(pilot):
        await ask(pilot, QUESTION)
        await open_compare(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_blind_compare_hides_the_tiers(snap_compare, tmp_path, scripted, monkeypatch):  # noqa: F811
    settings = settings_for(tmp_path, blind_compare=True)
    _script(settings, scripted)
    app = make_app(settings, engine_factory=scripted)
    # Pin the coin: the re-run on the left this time (it is random in use).
    monkeypatch.setattr("app.tui.screens.compare.secrets.randbelow", lambda n: 1)

    async def run_before(pilot):
        await ask(pilot, QUESTION)
        await open_compare(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
