"""Pilot tests: full turns through the console against the loopback server and offline."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Markdown

from app.core.config.loader import load_settings
from app.tui import themes
from app.tui.screens.sessions import SessionChoice
from app.tui.widgets.chat import AnswerView, ChatView, Notice, UserMessage
from app.tui.widgets.decision import DecisionPanel
from app.tui.widgets.ledger import LedgerPanel
from app.tui.widgets.prompt import PromptInput
from tests.loopback_server import Fault
from tests.tui.helpers import ScriptedEngine, Step, history, kept_answers, make_app, send, wait_for

SIZE = (150, 44)
LONG_REPLY = " ".join(f"word{i}" for i in range(400))






def answers(app) -> list[AnswerView]:
    return list(app.query(AnswerView))


def last_toast(app) -> str:
    return list(app._notifications)[-1].message


def plain(widget) -> str:
    return str(widget.render())


@pytest.mark.parametrize("width", [80, 140])
async def test_the_header_keeps_the_session_state_in_view(width):
    app = make_app(load_settings(None))
    async with app.run_test(size=(width, 24)):
        app.session.state.pinned_tier = "premium"
        app.refresh_header()
        header = plain(app.query_one("#header-line"))
        # The state a user acts on is never cut off; the models go first when space is short.
        assert "pinned: premium" in header and "offline (no model is called)" in header
        assert len(header) <= width
        assert ("gpt-4o-mini" in header) == (width == 140)


async def test_offline_routes_and_says_so_once():
    app = make_app(load_settings(None))
    async with app.run_test(size=SIZE) as pilot:
        assert "offline" in plain(app.query_one("#header-line"))
        await send(pilot, "Compare plan A with plan B for our billing system, with numbers")
        await wait_for(pilot, lambda: not app.running and len(app.session.conversation) == 1)
        decision = app.query_one(DecisionPanel)
        assert decision.decision is not None
        text = plain(decision)
        assert "est. cost" in text and "cheap" in text and "premium" in text
        await send(pilot, "hi")
        await wait_for(pilot, lambda: not app.running and len(app.session.conversation) == 2)
        notices = list(app.query(Notice))
        big = [n for n in notices if n.has_class("-offline")]
        lines = [n for n in notices if n.has_class("-offline-line")]
        assert len(big) == 1 and "No model was called" in plain(big[0])
        assert "OPENAI_API_KEY" in plain(big[0])
        assert len(lines) == 2 and "not sent" in plain(lines[0])
        assert not answers(app)
        assert "spent       $0" in plain(app.query_one(LedgerPanel))


async def test_turn_decision_before_first_token_then_stream_and_ledger(loopback, loopback_settings):
    loopback.reply = "Use **plan A**.\n\n```python\nprint('a')\n```\n"
    loopback.fail_next(Fault.stall(0.6))
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi there")
        decision = app.query_one(DecisionPanel)
        await wait_for(pilot, lambda: decision.decision is not None)
        # The server is stalling before its first token: the decision is already on screen.
        assert app.running
        assert all(not a.text for a in answers(app))
        assert "cheap" in plain(decision)
        await wait_for(pilot, lambda: not app.running)
        [answer] = answers(app)
        await wait_for(pilot, lambda: "print" in answer.body.source)
        assert answer.body.source == loopback.reply
        header = plain(answer.header)
        assert "cheap" in header and "cheap-model" in header and "$" in header and "tok" in header
        assert kept_answers(app)[-1].text == loopback.reply
        # The panel re-reads the ledger in a thread worker once the turn has finished.
        await wait_for(pilot, lambda: "cheap 1" in plain(app.query_one(LedgerPanel)))
        assert "saved" in plain(app.query_one(LedgerPanel))
        assert app.session.ledger().spent_usd > 0


async def test_fallback_is_marked_in_answer_and_ledger(loopback, loopback_settings):
    loopback.reply = "answer from a higher tier"
    loopback.fail_always(Fault.http(500), model="cheap-model")
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        [answer] = answers(app)
        header = plain(answer.header)
        assert "fallback from cheap" in header and "mid-model" in header
        assert "attempt 1 on cheap" in plain(answer.note)
        assert "fallback 1" in plain(app.query_one(LedgerPanel))


async def test_escape_cancels_the_running_answer(loopback, loopback_settings):
    loopback.reply = LONG_REPLY
    loopback.fail_next(Fault.slow(40))
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: bool(answers(app)) and len(answers(app)[0].text) > 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.running)
        [answer] = answers(app)
        # The engine ended the turn: the header shows what the cut answer cost.
        assert "cancelled" in plain(answer.header) and "$0.0" in plain(answer.header)
        assert app.session.conversation[0].status == "cancelled"
        assert len(answer.text) < len(LONG_REPLY)
        assert app.query_one(PromptInput).text == "hi"  # back in the input for a retry
        store = app.session.store()
        await wait_for(pilot, lambda: store.scalar(
            "SELECT COUNT(*) FROM requests WHERE status = 'cancelled'") == 1)


async def test_provider_error_is_readable_and_prompt_stays(loopback, loopback_settings):
    loopback.fail_always(Fault.http(401))
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        errors = [n for n in app.query(Notice) if n.has_class("-error")]
        assert len(errors) == 1
        text = plain(errors[0])
        assert "cheap-model" in text and "Traceback" not in text
        assert app.query_one(PromptInput).text == "hi"


async def test_keymap_remaps_bindings_and_reports_unknown_ids(loopback_settings):
    settings = loopback_settings(extra='\n[keymap]\npin_tier = "ctrl+g"\nno_such = "f9"\n')
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        assert any("keymap.no_such: no such binding" in n.message for n in app._notifications)
        # pin_tier took regenerate's ctrl+g: said, with "[keymap]" shown as written (the
        # toast is plain text, not markup that would swallow it).
        conflict = next(n for n in app._notifications if "also the key of" in n.message)
        assert "in [keymap]" in conflict.message and not conflict.markup
        await pilot.press("ctrl+t")
        assert app.session.state.pinned_tier is None
        await pilot.press("ctrl+g")
        assert app.session.state.pinned_tier == "cheap"
        for expected in ("mid", "premium", None):
            await pilot.press("ctrl+g")
            assert app.session.state.pinned_tier == expected


async def test_pin_and_force_premium_reach_the_decision(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        assert "next prompt: premium" in plain(app.query_one("#header-line"))
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        d = app.query_one(DecisionPanel).decision
        assert d.tier == "premium" and d.forced
        await send(pilot, "hi again")
        await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running)
        assert app.query_one(DecisionPanel).decision.tier == "cheap"  # forced once only
        await pilot.press("ctrl+t", "ctrl+t")
        assert "pinned: mid" in plain(app.query_one("#header-line"))
        await send(pilot, "hi once more")
        await wait_for(pilot, lambda: len(app.session.conversation) == 3 and not app.running)
        panel = app.query_one(DecisionPanel)
        assert panel.decision.pinned and "session   pinned to mid" in plain(panel)
        await pilot.press("ctrl+t", "ctrl+t")  # premium, then automatic again
        assert app.session.state.pinned_tier is None
        shown = plain(panel)
        assert "pinned to mid" in shown and "session   pin lifted" in shown  # the why, then now


async def test_theme_switch_applies_live_and_persists():
    settings = load_settings(None)
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "routedeck-dark"
        app.theme = "routedeck-light"
        await pilot.pause()
        assert app.current_theme.name == "routedeck-light"
    saved = json.loads(themes.state_file().read_text())
    assert saved == {"theme": "routedeck-light", "config_theme": "routedeck-dark"}
    again = make_app(settings)
    async with again.run_test(size=SIZE):
        assert again.theme == "routedeck-light"
    # An explicit config edit is newer than the palette choice and wins.
    edited = load_settings(None, {"ui": {"theme": "textual-dark"}})
    third = make_app(edited)
    async with third.run_test(size=SIZE):
        assert third.theme == "textual-dark"


async def test_bad_theme_files_reported_in_one_toast(isolated_home):
    theme_dir = isolated_home / "config" / "themes"
    theme_dir.mkdir(parents=True)
    (theme_dir / "broken.toml").write_text("name = 'x'\nprimary = [", encoding="utf-8")
    (theme_dir / "badcolour.toml").write_text("name = 'y'\nprimary = 'notacolour'\n", encoding="utf-8")
    (theme_dir / "mine.toml").write_text("name = 'mine'\nprimary = '#123456'\n", encoding="utf-8")
    settings = load_settings(None, {"ui": {"theme": "badcolour"}})
    app = make_app(settings)
    async with app.run_test(size=SIZE):
        toasts = list(app._notifications)
        assert len(toasts) == 1
        msg = toasts[0].message
        assert "broken.toml" in msg and "badcolour.toml" in msg and "not a colour" in msg
        assert app.theme == themes.FALLBACK_DARK
        assert "mine" in app.available_themes


async def test_playback_types_each_prompt_and_waits_for_answers(loopback, loopback_settings, tmp_path):
    from app.tui.playback import Playback, load_prompts

    play = tmp_path / "demo.jsonl"
    play.write_text('{"prompt": "hi"}\n{"prompt": "what is 2+2?"}\nnot json\n', encoding="utf-8")
    prompts, problems = load_prompts(play)
    assert prompts == ["hi", "what is 2+2?"] and len(problems) == 1
    loopback.reply = "ok"
    app = make_app(loopback_settings(), playback=Playback(prompts, 0.05))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("Demo finished: 2" in n.message
                                          for n in app._notifications))
        users = [u.shown for u in app.query(UserMessage)]
        assert users == ["you  hi", "you  what is 2+2?"]
        assert all(a.finished is not None and a.status == "ok" for a in answers(app))


async def test_playback_pause_key_holds_the_next_prompt(loopback, loopback_settings):
    from app.tui.playback import Playback

    loopback.reply = "ok"
    # Start paused so the check does not race the app's start-up on a loaded machine.
    playback = Playback(["one", "two"], 0.2)
    playback.toggle()
    app = make_app(loopback_settings(), playback=playback)
    async with app.run_test(size=SIZE) as pilot:
        assert app.playback.paused and "demo paused" in plain(app.query_one("#header-line"))
        await pilot.pause(1.0)
        assert len(app.session.conversation) == 0
        # A draft typed while paused is not thrown away by the demo's next prompt.
        app.query_one("#prompt").text = "my half typed draft"
        await pilot.press("f5")
        assert app.playback.paused and "Your draft is in the input" in last_toast(app)
        assert app.query_one("#prompt").text == "my half typed draft"
        app.query_one("#prompt").text = ""
        await pilot.press("f5")
        assert not app.playback.paused
        await wait_for(pilot, lambda: app.playback.finished)
        assert len(app.session.conversation) == 2
        await pilot.press("f5")  # after the demo the key changes nothing
        assert app.playback.finished and len(app.session.conversation) == 2


async def test_playback_key_pauses_a_running_demo(loopback, loopback_settings):
    from app.tui.playback import Playback

    loopback.reply = "ok"
    app = make_app(loopback_settings(), playback=Playback(["one", "two", "three"], 5.0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        assert app.playback.paused
        assert "demo paused" in plain(app.query_one("#header-line"))


async def test_copy_last_answer_says_whether_it_worked(loopback, loopback_settings, monkeypatch):
    import pyperclip

    copied: list[str] = []
    loopback.reply = "copy me"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        assert "no answer to copy" in last_toast(app)
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        monkeypatch.setattr(pyperclip, "copy", copied.append)
        await pilot.press("ctrl+o")
        assert copied == ["copy me"]
        assert "Copied" in last_toast(app)

        def no_clipboard(text: str) -> None:
            raise pyperclip.PyperclipException("no clipboard")

        monkeypatch.setattr(pyperclip, "copy", no_clipboard)
        await pilot.press("ctrl+o")
        assert "OSC 52" in last_toast(app)
        assert app.clipboard == "copy me"


async def test_long_session_keeps_a_bounded_number_of_turns_mounted():
    settings = load_settings(None, {"ui": {"max_mounted_turns": 5}})
    ScriptedEngine.script = [Step(f"answer {i}") for i in range(8)]
    app = make_app(settings, engine_factory=ScriptedEngine)
    async with app.run_test(size=SIZE) as pilot:
        for i in range(8):
            await send(pilot, f"question {i}")
            await wait_for(pilot, lambda i=i: len(app.session.conversation) == i + 1 and not app.running)
        chat = app.query_one(ChatView)
        assert chat.mounted_turns == 5 and chat.hidden_turns == 3
        assert len(answers(app)) == 5
        assert len(history(app)) == 16  # the conversation itself is complete


async def test_misrouting_alarm_shows_in_ledger():
    settings = load_settings(None, {"ui": {"alarm_window": 3, "alarm_rate": 0.5}})
    ScriptedEngine.script = [Step("a", tier="premium", fallback_from="cheap"), Step("b"),
                             Step("c", tier="premium", fallback_from="cheap")]
    app = make_app(settings, engine_factory=ScriptedEngine)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "one")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        # One fallback in a 3-turn window is 33%: under the bar, whatever the first turn was.
        assert "misrouting" not in plain(app.query_one(LedgerPanel))
        await send(pilot, "two")
        await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running)
        await send(pilot, "three")
        await wait_for(pilot, lambda: len(app.session.conversation) == 3 and not app.running)
        panel = app.query_one(LedgerPanel)
        assert "misrouting" in plain(panel) and panel.has_class("-alarm")


async def test_screens_and_palette_cover_every_action(loopback_settings):
    from app.tui.commands import ACTIONS, RouteDeckCommands

    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("f2")  # the figures are read in a thread first
        await wait_for(pilot, lambda: type(app.screen).__name__ == "LedgerDetailsScreen")
        await pilot.press("escape")
        provider = RouteDeckCommands(app.screen)
        titles = [hit.text for hit in [h async for h in provider.discover()]]
        for title, _bid, action, _help in ACTIONS:
            if action != "toggle_play":
                assert title in titles
            assert hasattr(app, f"action_{action}")
        assert "Pin tier: premium" in titles and "Theme: routedeck-light" in titles
        # Every action with a key shows it, as the palette renders its help (markup).
        from textual.content import Content

        shown = {h.text: Content.from_markup(h.help).plain
                 for h in [h async for h in provider.discover()]}
        for title, key in (("Ledger details", "[f2]"), ("Show / hide side panels", "[f3]"),
                           ("Cancel running answer", "[escape]"), ("Escalate / compare answer",
                                                                   "[ctrl+e]")):
            assert shown[title].endswith(key), (title, shown[title])
        # One Quit in the palette: RouteDeck's, not also Textual's.
        system = [c.title for c in app.get_system_commands(app.screen)]
        assert "Quit" not in system and "Keys" in system and "Quit" in titles


async def test_new_session_then_resume_restores_history(loopback, loopback_settings):
    loopback.reply = "remembered answer"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        first = app.session.session_id
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        await pilot.press("ctrl+n")
        assert app.session.session_id != first and not answers(app)
        assert f"session {app.session.session_id}" in plain(app.query_one("#header-line"))
        await pilot.press("f4")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SessionPicker")
        [info] = [i for i in app.screen.sessions if i.id == first]
        assert info.title == "hi" and info.turns == 1 and info.spent.startswith("$")
        app.screen.dismiss(SessionChoice("resume", info))
        await wait_for(pilot, lambda: app.session.session_id == first and bool(answers(app)))
        assert app.session.session_id == first
        assert history(app)[-1]["content"] == "remembered answer"
        [restored] = answers(app)
        # The answer comes back with its header: tier, model, latency, tokens, cost.
        assert restored.text == "remembered answer"
        assert "cheap · cheap-model" in plain(restored.header) and "$" in plain(restored.header)


def test_run_console_rejects_unknown_tier_and_session(capsys):
    from app.tui.run import run_console

    settings = load_settings(None)
    with pytest.raises(SystemExit) as exc:
        run_console(settings, pin_tier="nope")
    assert exc.value.code == 2
    assert "unknown tier 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        run_console(settings, session_id=4242)
    assert exc.value.code == 2
    assert "unknown session 4242" in capsys.readouterr().err


def test_the_console_runs_with_its_collector_thresholds(monkeypatch):
    """Full collections with CPython's defaults paused streaming for 60-160 ms ~19 times per
    long answer (bench_tui_stream); the console runs with its own thresholds."""
    import gc

    from app.tui import run as console_run
    from app.tui.app import RouteDeckApp

    seen = []
    monkeypatch.setattr(RouteDeckApp, "run", lambda self, *a, **k: seen.append(gc.get_threshold()))
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        console_run.run_console(load_settings(None))
    finally:
        gc.set_threshold(*before)
    assert seen == [console_run.GC_THRESHOLDS]
    assert console_run.GC_THRESHOLDS[0] > 700  # a young generation far above the default


def test_core_session_does_not_import_textual():
    import subprocess
    import sys

    code = ("import sys, app.core.conversation.session, app.core.calling.engine; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_markdown_final_update_keeps_code_fences(loopback, loopback_settings):
    loopback.reply = "intro\n\n```python\ndef f():\n    return 1\n```\n\nafter"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        [answer] = answers(app)
        await wait_for(pilot, lambda: answer.body.source == loopback.reply)
        fences = [b for b in answer.body.query("MarkdownFence")]
        assert len(fences) == 1
        assert isinstance(answer.body, Markdown)


async def test_a_prompt_keeps_its_lines_under_the_first_when_broken_or_wrapped():
    app = make_app(load_settings(None))
    async with app.run_test(size=(80, 24)) as pilot:
        msg = app.query_one(ChatView).add_user(
            "Summarize this:\nline two of the text, " + "long " * 20 + "end")
        await pilot.pause()
        region = msg.region
        strips = app.screen._compositor.render_strips()[region.y:region.bottom]
        lines = [s.text[region.x:region.right].rstrip() for s in strips]
    assert msg.shown.startswith("you  Summarize this:\nline two")
    assert lines[0] == "you  Summarize this:"
    # The prompt's own line break and the pane's wrapping both stay under its first line.
    assert len(lines) >= 3 and all(ln.startswith("     ") and ln[5] != " " for ln in lines[1:])


async def test_a_header_too_wide_for_its_models_names_the_tiers_whole(loopback_settings):
    settings = loopback_settings()
    for t in settings.tiers:
        t.model = f"{t.name}-model-with-a-very-long-name-for-the-header"
    app = make_app(settings)
    async with app.run_test(size=(80, 24)):
        app.refresh_header()
        header = plain(app.query_one("#header-line"))
    assert header.endswith("— tiers cheap mid premium") and len(header) <= 80


def test_no_cache_starts_the_console_without_the_cache_and_is_console_only(monkeypatch):
    from click.testing import CliRunner

    import app.tui.run as run
    from app.cli import cli

    seen = []
    monkeypatch.setattr(run, "run_console", lambda settings, **kw: seen.append(settings))
    assert CliRunner().invoke(cli, ["--no-cache"]).exit_code == 0
    assert CliRunner().invoke(cli, []).exit_code == 0
    assert [s.cache.enabled for s in seen] == [False, True]
    misplaced = CliRunner().invoke(cli, ["--no-cache", "route", "hi"])
    assert misplaced.exit_code == 2 and "--no-cache is for the console" in misplaced.output
