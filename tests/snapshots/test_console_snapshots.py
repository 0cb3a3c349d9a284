"""Snapshot tests of the console (pytest-textual-snapshot).

Deterministic by construction: a fixed terminal size, a fresh ROUTEDECK_HOME (so the session
is number 1 and no saved theme applies), config prices, the scripted engine (fixed latency,
tokens and decision time), no cursor blink and animations off. Update with
``pytest tests/snapshots --snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.core.config.loader import load_settings
from app.tui.widgets.prompt import PromptInput
from tests.tui.helpers import ScriptedEngine, Step, fixed_decision, make_app

SIZE = (140, 40)

CONFIG = """
[providers.loop]
base_url = "http://127.0.0.1:9/v1"
api_key_env = "{key_env}"

[[tiers]]
name = "cheap"
provider = "loop"
model = "small-model"
input_per_mtok = 0.15
output_per_mtok = 0.60

[[tiers]]
name = "premium"
provider = "loop"
model = "large-model"
input_per_mtok = 2.50
output_per_mtok = 10.00

[router]
thresholds = [0.5]

[budget]
session_usd = 0.01
"""

FENCED = ("Plan **A** is cheaper at every volume:\n\n| plan | monthly |\n|---|---|\n"
          "| A | $120 |\n| B | $150 |\n\n```python\ndef cheaper(a, b):\n    return min(a, b)\n```")


def cheap_decision(settings, task="factual_qa"):
    return fixed_decision(settings, "cheap", 0.12, task,
                          ((-0.03, "looks like a factual question"), (-0.02, "very short prompt"),
                           (0.01, "word 'capital'")))


def premium_decision(settings, score=0.71):
    tier = "premium" if score >= 0.5 else "cheap"
    return fixed_decision(settings, tier, score, "analysis",
                          ((0.21, "asks to compare options"), (0.12, "numbers and units"),
                           (0.05, "mentions a database")), input_tokens=220)


def settings_for(tmp_path: Path, key_env: str = "", **ui):
    path = tmp_path / "snap.toml"
    extra = "\n[ui]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in ui.items()) \
        if ui else ""
    path.write_text(CONFIG.format(key_env=key_env) + extra, encoding="utf-8")
    return load_settings(path)


async def ask(pilot, text: str) -> None:
    app = pilot.app
    before = len(app.session.conversation)
    app.query_one(PromptInput).text = text
    await pilot.press("enter")
    deadline = time.monotonic() + 5
    while len(app.session.conversation) == before or app.running:
        assert time.monotonic() < deadline, "turn did not finish"
        await pilot.pause(0.02)
    await settle(pilot, deadline)


async def settle(pilot, deadline: float) -> None:
    """Wait for each answer's final Markdown update and the ledger re-read (thread workers)."""
    app = pilot.app
    while any(w.group in ("answer-stream", "ledger", "io") and w.is_running
              for w in app.workers):
        assert time.monotonic() < deadline, "answer did not settle"
        await pilot.pause(0.02)
    await pilot.pause()
    await pilot.pause()


@pytest.fixture
def scripted():
    ScriptedEngine.script = []
    yield ScriptedEngine
    ScriptedEngine.script = []


def test_main_screen_empty(snap_compare, tmp_path, scripted):
    app = make_app(settings_for(tmp_path), engine_factory=scripted)
    assert snap_compare(app, terminal_size=SIZE)


def test_after_cheap_turn(snap_compare, tmp_path, scripted):
    settings = settings_for(tmp_path)
    scripted.script = [Step("Paris is the capital of France.", input_tokens=14, output_tokens=9,
                            latency_s=0.42, decision=cheap_decision(settings))]
    app = make_app(settings, engine_factory=scripted)

    async def run_before(pilot):
        await ask(pilot, "What is the capital of France?")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_after_premium_turn_with_fallback(snap_compare, tmp_path, scripted):
    settings = settings_for(tmp_path)
    # Routed to cheap (score just under the bar); cheap answers HTTP 500; premium answers.
    scripted.script = [Step(FENCED, tier="premium", fallback_from="cheap", input_tokens=220,
                            output_tokens=410, latency_s=2.4,
                            decision=premium_decision(settings, score=0.46))]
    app = make_app(settings, engine_factory=scripted)

    async def run_before(pilot):
        await ask(pilot, "Compare plan A with plan B for our billing database, with numbers")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_offline_notice(snap_compare, tmp_path, scripted, monkeypatch):
    monkeypatch.delenv("RD_SNAPSHOT_KEY", raising=False)
    settings = settings_for(tmp_path, key_env="RD_SNAPSHOT_KEY")
    scripted.script = [Step("", offline=True, decision=premium_decision(settings)),
                       Step("", offline=True, decision=cheap_decision(settings, "greeting"))]
    app = make_app(settings, engine_factory=scripted)

    async def run_before(pilot):
        await ask(pilot, "Summarise the attached meeting notes in three bullet points")
        await ask(pilot, "hi")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_ledger_details(snap_compare, tmp_path, scripted):
    settings = settings_for(tmp_path)
    scripted.script = [
        Step("Paris.", input_tokens=14, output_tokens=4, decision=cheap_decision(settings)),
        Step(FENCED, input_tokens=220, output_tokens=410, decision=premium_decision(settings)),
        Step("Four.", input_tokens=12, output_tokens=3, decision=cheap_decision(settings, "math")),
        Step("Sure, here you go.", input_tokens=30, output_tokens=60,
             decision=cheap_decision(settings, "chat")),
    ]
    app = make_app(settings, engine_factory=scripted)

    async def run_before(pilot):
        for prompt in ("capital of France?", "Compare plan A with plan B, with numbers",
                       "2+2?", "say hello"):
            await ask(pilot, prompt)
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, tmp_path, scripted):
    app = make_app(settings_for(tmp_path), engine_factory=scripted)
    assert snap_compare(app, terminal_size=SIZE, press=["f1"])


def test_light_theme(snap_compare, tmp_path, scripted):
    settings = settings_for(tmp_path, theme="routedeck-light")
    scripted.script = [Step(FENCED, input_tokens=60, output_tokens=120, latency_s=0.8,
                            decision=cheap_decision(settings))]
    app = make_app(settings, engine_factory=scripted)

    async def run_before(pilot):
        await ask(pilot, "Which plan is cheaper?")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _premium_turn(tmp_path, scripted):
    settings = settings_for(tmp_path)
    scripted.script = [Step(FENCED, tier="premium", input_tokens=220, output_tokens=410,
                            latency_s=2.4, decision=premium_decision(settings))]
    return make_app(settings, engine_factory=scripted)


def test_small_terminal_shows_the_strip_and_a_full_width_chat(snap_compare, tmp_path, scripted):
    """80x24: no side panels; the table and code get the whole width; one strip line says
    where the prompt went and what the session saved."""
    app = _premium_turn(tmp_path, scripted)

    async def run_before(pilot):
        await ask(pilot, "Compare plan A with plan B for our billing database, with numbers")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_medium_terminal_narrows_the_side_panels(snap_compare, tmp_path, scripted):
    app = _premium_turn(tmp_path, scripted)

    async def run_before(pilot):
        await ask(pilot, "Compare plan A with plan B for our billing database, with numbers")

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_f3_hides_the_panels_on_a_wide_terminal(snap_compare, tmp_path, scripted):
    app = _premium_turn(tmp_path, scripted)

    async def run_before(pilot):
        await ask(pilot, "Compare plan A with plan B for our billing database, with numbers")
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
