"""Pilot tests of what chat users expect from the console, against the loopback server:
prompt history and search, copying any answer or code block, regenerate and edit, sessions
with titles, rename and delete, a session system prompt, blind compare, pasted line ends,
following new turns, small terminals, and saying where each answer came from."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

from app.core.config.loader import load_settings
from app.core.ledger.reader import Ledger
from app.tui.history import HistorySearch
from app.tui.screens.compare import CompareScreen
from app.tui.screens.dialogs import AskText, Confirm
from app.tui.screens.sessions import SessionChoice, SessionPicker
from app.tui.widgets.chat import AnswerView, ChatView, Notice
from app.tui.widgets.decision import DecisionPanel
from app.tui.widgets.ledger import LedgerPanel
from app.tui.widgets.prompt import PromptInput
from app.tui.widgets.strip import DecisionStrip
from tests.loopback_server import Fault
from tests.tui.helpers import ask_and_wait, history, kept_answers, make_app, send, wait_for
from tests.tui.test_console import SIZE, answers, last_toast, plain

CODE_REPLY = "Use this:\n\n```python\nprint('hi')\n```\n\nand this:\n\n```sh\nls -la\n```\n"


def prompt_of(app) -> PromptInput:
    return app.query_one(PromptInput)


async def test_up_and_down_recall_earlier_prompts_and_typing_keeps_the_cursor(
        loopback, loopback_settings):
    settings = loopback_settings()
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "first question")
        await ask_and_wait(pilot, "second question")
        await pilot.press("up")
        assert prompt_of(app).text == "second question"
        await pilot.press("up")
        assert prompt_of(app).text == "first question"
        await pilot.press("down")
        assert prompt_of(app).text == "second question"
        await pilot.press("down")
        assert prompt_of(app).text == ""
        # Text being edited keeps Up and Down for the cursor.
        prompt_of(app).text = "line one\nline two"
        prompt_of(app).move_cursor((1, 0))
        await pilot.press("up")
        assert prompt_of(app).text == "line one\nline two"
        assert prompt_of(app).cursor_location == (0, 0)
    # A later run recalls the prompts of earlier sessions from the store.
    again = make_app(settings)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(again.history.items) == 2)
        await pilot.press("up")
        assert prompt_of(again).text == "second question"


async def test_ctrl_r_searches_every_earlier_prompt(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        for prompt in ("rotate the postgres password", "what is 2+2?", "postgres vs mysql"):
            await ask_and_wait(pilot, prompt)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, HistorySearch))
        await pilot.press(*"kafka", "enter")  # no match: said, the dialog stays
        await pilot.pause()
        assert "No earlier prompt has all of these words (0 of 3)" in plain(
            app.screen.query_one("#history-count"))
        for _ in "kafka":
            await pilot.press("backspace")
        await pilot.press(*"postgres pass")
        await pilot.pause()
        assert app.screen._shown == ["rotate the postgres password"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistorySearch))
        assert prompt_of(app).text == "rotate the postgres password"


async def test_copy_the_selected_answer_and_any_code_block(loopback, loopback_settings,
                                                           monkeypatch):
    import pyperclip

    copied: list[str] = []
    monkeypatch.setattr(pyperclip, "copy", copied.append)
    loopback.reply = CODE_REPLY
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "show me code")
        loopback.reply = "plain second answer"
        await ask_and_wait(pilot, "and now words")
        await pilot.press("ctrl+o")
        assert copied[-1] == "plain second answer"  # nothing selected: the last answer
        await pilot.press("ctrl+up", "ctrl+up")
        await pilot.press("ctrl+o")
        assert copied[-1] == CODE_REPLY and "turn 1" in last_toast(app)
        from app.tui.commands import RouteDeckCommands

        provider = RouteDeckCommands(app.screen)
        hits = {h.text: h for h in [h async for h in provider.discover()]}
        block = hits["Copy code block 2 of turn 1 (sh, 1 line)"]
        block.command()
        assert copied[-1] == "ls -la"


async def test_regenerate_replaces_the_last_answer(loopback, loopback_settings):
    loopback.reply = "first try"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "tell me a fact")
        loopback.reply = "second try"
        before = len(app.session.conversation)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: len(app.session.conversation) > before
                       and not app.running)
        assert history(app) == [{"role": "user", "content": "tell me a fact"},
                                {"role": "assistant", "content": "second try"}]
        old, new = answers(app)
        assert old.has_class("-replaced") and new.text == "second try"
        stored = app.session.store().messages(app.session.session_id)
        assert [m["content"] for m in stored] == ["tell me a fact", "second try"]
        # The replaced answer was paid for: it stays in the ledger, in the same turn (the
        # turn count the sessions list, the report and a resume show is the conversation's).
        totals = Ledger(app.session.store()).totals(app.session.session_id)
        assert (totals.calls, totals.turns, totals.escalations) == (2, 1, 0)
        rows = app.session.store().requests()
        assert [r["attempt"] for r in rows] == [1, 2] and len({r["turn_id"] for r in rows}) == 1
        assert totals.premium == rows[-1]["premium_cost_usd"]  # one all-premium answer
        [info] = [s for s in app.session.list_sessions() if s.id == app.session.session_id]
        assert info.turns == 1


async def test_edit_last_prompt_replaces_that_turn(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "capital of Frnace?")
        await pilot.press("ctrl+l")
        assert prompt_of(app).text == "capital of Frnace?"
        prompt_of(app).text = "capital of France?"
        before = len(app.session.conversation)
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.session.conversation) > before
                       and not app.running)
        assert [m["content"] for m in history(app)][0::2] == ["capital of France?"]
        totals = Ledger(app.session.store()).totals(app.session.session_id)
        assert (totals.calls, totals.turns) == (2, 1)


async def test_editing_an_offline_prompt_replaces_it_in_routing_and_projection():
    # Offline, ctrl+l appended: the old prompt stayed in the history the router reads (the
    # edit went as "follow-up to" it) and in the projection, and its line was not marked.
    app = make_app(load_settings(None))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "How long should I boil an egg for a runny yolk?")
        await wait_for(pilot, lambda: not app.running and app.session.conversation[0].status
                       == "offline")
        await pilot.press("ctrl+l")
        prompt_of(app).text = "How long should I boil an egg for a jammy yolk?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running
                       and app.session.conversation[1].status == "offline")
        conv = app.session.conversation
        assert conv[1].decision.follow_up == ""
        assert [m["content"] for m in conv.history(offline_too=True)][0::2] == [
            "How long should I boil an egg for a jammy yolk?"]
        assert app.session.ledger().projected_turns == 1
        lines = [n for n in app.query_one(ChatView).query(Notice) if n.turn_index is not None]
        assert [n.has_class("-replaced") for n in lines] == [True, False]
        assert "replaced by the edit below" in plain(lines[0])


async def test_offline_prompts_come_back_with_their_session():
    # A new user's 34 offline prompts and their projected saving vanished on ctrl+n and back,
    # and after a restart Up and ctrl+r had nothing to recall.
    app = make_app(load_settings(None))
    async with app.run_test(size=SIZE) as pilot:
        for n, text in enumerate(("hi there",
                                  "Review this contract clause for compliance issues"), 1):
            await send(pilot, text)
            await wait_for(pilot, lambda n=n: len(app.session.conversation) == n
                           and not app.running)
        first = app.session.session_id
        projected = app.session.ledger().projected_premium_usd
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.session_id != first)
        app._resume(first)
        await wait_for(pilot, lambda: app.session.session_id == first
                       and len(app.session.conversation) == 2)
        view = app.session.ledger()
        assert view.projected_turns == 2 and view.projected_premium_usd == projected
        shown = " ".join(plain(n) for n in app.query_one(ChatView).query(Notice))
        assert "would go to cheap" in shown and "would go to premium" in shown
        assert app.session.store().user_prompts()[:2] == [
            "Review this contract clause for compliance issues", "hi there"]
        # Nothing unanswered is sent to a model as history.
        assert app.session.conversation.history() == []


async def test_sessions_have_titles_and_can_be_renamed_and_deleted(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "plan the database migration")
        old = app.session.session_id
        spent = Ledger(app.session.store()).totals().spent
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.session_id != old)
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker))
        [info] = [s for s in app.screen.sessions if s.id == old]
        assert info.title == "plan the database migration" and info.spent.startswith("$0.0")
        app.screen.dismiss(SessionChoice("rename", info))
        await wait_for(pilot, lambda: isinstance(app.screen, AskText)
                       and bool(app.screen.query("#ask-text")))
        app.screen.query_one("#ask-text").value = "DB migration plan"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker))
        [info] = [s for s in app.screen.sessions if s.id == old]
        assert info.title == "DB migration plan"
        app.screen.dismiss(SessionChoice("delete", info))
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker))
        assert old not in [s.id for s in app.screen.sessions]
        store = app.session.store()
        assert store.messages(old) == [] and store.session(old) is None
        # Its cost stays in the ledger; its prompt text does not.
        assert Ledger(store).totals().spent == spent
        assert all(r["prompt"] is None for r in store.requests(session_id=old))
        # The open session: told at once that it cannot go, not asked first.
        [info] = [s for s in app.screen.sessions if s.id == app.session.session_id]
        app.screen.dismiss(SessionChoice("delete", info))
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
        assert "is open: start a new one (ctrl+n) before deleting it" in last_toast(app)
        assert store.session(info.id) is not None


async def test_a_session_system_prompt_from_the_palette(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        app.action_system_prompt()
        await wait_for(pilot, lambda: isinstance(app.screen, AskText)
                       and bool(app.screen.query("#ask-text")))
        app.screen.query_one("#ask-text").value = "Answer like a pirate."
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session.system_prompt == "Answer like a pirate.")
        assert "own system prompt" in plain(app.query_one("#header-line"))
        await ask_and_wait(pilot, "hello")
        assert loopback.bodies()[-1]["messages"][0] == {"role": "system",
                                                        "content": "Answer like a pirate."}


async def test_blind_compare_hides_tiers_and_maps_the_verdict(loopback, loopback_config,
                                                              monkeypatch):
    loopback.replies["mid-model"] = "the mid answer"
    settings = load_settings(loopback_config(extra="\n[ui]\nblind_compare = true\n"))
    monkeypatch.setattr("app.tui.screens.compare.secrets.randbelow", lambda n: 1)
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "hi")
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                       and app.screen.other is not None)
        screen = app.screen
        headers = " ".join(plain(v.header) for v in screen.query(AnswerView))
        assert "cheap" not in headers and "mid" not in headers and "$" not in headers
        # Swapped: A (left) is the re-run on mid. "A better" means the pricier was better.
        await pilot.press("1")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        await wait_for(pilot, lambda: bool(app.session.store().verdicts()))
        assert app.session.store().verdicts()[0]["verdict"] == "premium_better"
        toasts = [n.message for n in app._notifications]
        assert any("A was mid (mid-model), B was cheap (cheap-model)" in t for t in toasts)


async def test_pasted_cr_line_ends_stay_line_breaks(loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        prompt_of(app).focus()
        prompt_of(app).post_message(events.Paste("first\rsecond\r\nthird"))
        await pilot.pause()
        assert prompt_of(app).text == "first\nsecond\nthird"


async def test_a_pasted_prompt_is_sent_without_its_trailing_blank_line(loopback,
                                                                       loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        prompt_of(app).focus()
        prompt_of(app).post_message(events.Paste("  def f():\r      return 1\r\r"))
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(loopback.bodies()) and not app.running)
        sent = loopback.bodies()[-1]["messages"][-1]
        assert sent == {"role": "user", "content": "  def f():\n      return 1"}


async def test_a_new_turn_is_brought_into_view_after_scrolling_up(loopback, loopback_settings):
    loopback.reply = "\n\n".join(f"paragraph {i} " + "words " * 30 for i in range(12))
    app = make_app(loopback_settings())
    async with app.run_test(size=(100, 30)) as pilot:
        await ask_and_wait(pilot, "one")
        await ask_and_wait(pilot, "two")
        chat = app.query_one(ChatView)
        chat.scroll_home(animate=False)
        await pilot.pause()
        assert chat.scroll_y == 0 and chat.max_scroll_y > 0
        await ask_and_wait(pilot, "three")
        await wait_for(pilot, lambda: all(a.settled for a in answers(app)))
        await pilot.pause()
        assert chat.scroll_y == chat.max_scroll_y


async def test_small_terminals_get_the_strip_and_f3_toggles_the_panels(loopback,
                                                                      loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.has_class("-no-side")
        await ask_and_wait(pilot, "hi")
        strip = app.query_one(DecisionStrip)
        assert strip.display and plain(strip).startswith("cheap · greeting/chit-chat")
        await pilot.press("f3")
        assert not app.has_class("-no-side")  # the user asked for them
        # Too narrow to sit beside the chat: the panels take the pane, the decision whole.
        await pilot.pause()
        assert app.has_class("-panels-only") and not app.query_one(ChatView).display
        panel = app.query_one(DecisionPanel)
        assert panel.region.width >= 38 and "greeting/chit-chat: score" in plain(panel)
        await pilot.press("f3")
        await pilot.pause()
        assert not app.has_class("-panels-only") and app.query_one(ChatView).display
    app = make_app(loopback_settings())
    async with app.run_test(size=(140, 40)) as pilot:
        assert not app.has_class("-no-side") and not app.has_class("-narrow-side")
        await pilot.press("f3")
        assert app.has_class("-no-side")
    app = make_app(loopback_settings())
    async with app.run_test(size=(100, 30)):
        assert app.has_class("-narrow-side")


async def test_f3_chooses_for_the_size_it_was_pressed_at(loopback, loopback_settings):
    # A new user pressed F3 twice at 80x24, then widened to 160 columns: the one-line strip
    # stayed and the panels did not come back; panels chosen at 160 then took over the
    # whole pane at 80 and hid the chat.
    app = make_app(loopback_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.press("f3")
        await pilot.pause()
        assert app.has_class("-no-side")
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        assert not app.has_class("-no-side") and app.query_one(ChatView).display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.has_class("-no-side") and not app.has_class("-panels-only")
        assert app.query_one(ChatView).display


async def test_the_layout_follows_each_resize_at_once(loopback, loopback_settings):
    # Each step is judged on the new size (the console once laid out for the size before).
    app = make_app(loopback_settings())
    async with app.run_test(size=(160, 45)) as pilot:
        for (w, h), side, narrow in (((80, 24), False, False), ((160, 45), True, False),
                                     ((100, 30), True, True), ((80, 24), False, False),
                                     ((130, 20), True, False), ((130, 19), False, False)):
            await pilot.resize_terminal(w, h)
            await pilot.pause()
            assert app.has_class("-no-side") is not side, (w, h)
            assert app.has_class("-narrow-side") is narrow, (w, h)
            assert app.query_one(Footer).compact is (w < 120), (w, h)


async def test_the_decision_panel_says_where_the_kept_answer_came_from(loopback,
                                                                      loopback_settings):
    loopback.replies["mid-model"] = "the mid answer"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "hi")
        panel = app.query_one(DecisionPanel)
        assert "answered" not in plain(panel)  # routed and answered on cheap: nothing to add
        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen)
                       and app.screen.other is not None)
        await pilot.press("2")
        await wait_for(pilot, lambda: "answered" in plain(panel))
        text = plain(panel)
        assert "tier      cheap" in text and "answered  mid · mid-model" in text
        assert "kept after compare" in text


async def test_a_fallback_shows_the_tier_that_answered(loopback, loopback_settings):
    loopback.fail_always(Fault.http(500), model="cheap-model")
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "hi")
        text = plain(app.query_one(DecisionPanel))
        assert "answered  mid · mid-model" in text and "fallback from cheap" in text


async def test_offline_the_ledger_projects_what_routing_saves():
    app = make_app(load_settings(None))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "Compare plan A with plan B for our billing system, with numbers")
        await wait_for(pilot, lambda: not app.running and len(app.session.conversation) == 1)
        await send(pilot, "hi")
        await wait_for(pilot, lambda: not app.running and len(app.session.conversation) == 2)
        await wait_for(pilot, lambda: "projected" in plain(app.query_one(LedgerPanel)))
        text = " ".join(plain(app.query_one(LedgerPanel)).split())  # as read, not as wrapped
        assert "routed" in text and "all-premium" in text and "over 2 prompts" in text
        view = app.session.ledger()
        assert 0 < view.projected_routed_usd <= view.projected_premium_usd


async def test_waiting_for_the_first_token_is_shown_and_esc_stops_it(loopback, loopback_settings):
    loopback.fail_always(Fault.hang())
    app = make_app(loopback_settings(first_token_timeout_s=60))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: bool(answers(app))
                       and "waiting for the first token" in plain(answers(app)[0].header))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.running, timeout=3)
        assert app.session.conversation[0].status == "cancelled"
        assert prompt_of(app).text == "hi"
        await wait_for(pilot, lambda: app.session.store().scalar(
            "SELECT COUNT(*) FROM requests WHERE status = 'cancelled'") == 1)


async def test_the_header_says_streaming_as_soon_as_text_arrives(loopback, loopback_settings):
    loopback.control.tokens_per_s = 4  # a slow stream: the next second's tick is far off
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hi")
        await wait_for(pilot, lambda: bool(answers(app)) and bool(answers(app)[0].parts),
                       timeout=5)
        header = plain(answers(app)[0].header)
        assert "streaming…" in header and "waiting for the first token" not in header
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.running, timeout=5)


async def test_two_tiers_sharing_a_model_stay_apart_in_the_ledger(loopback, loopback_config):
    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace('model = "mid-model"', 'model = "cheap-model"'))
    app = make_app(load_settings(cfg))
    async with app.run_test(size=SIZE) as pilot:
        app.session.set_pin("cheap")
        await ask_and_wait(pilot, "one")
        app.session.set_pin("mid")
        await ask_and_wait(pilot, "two")
        rows = [(r.tier, r.model, r.calls) for r in app.session.ledger().models]
        assert rows == [("cheap", "cheap-model", 1), ("mid", "cheap-model", 1)]
        assert kept_answers(app)[1].tier == "mid"


async def test_a_ledger_read_that_finishes_while_the_console_closes_is_dropped_quietly(
        loopback, loopback_settings):
    from app.tui.messages import LedgerLoaded

    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "a question")
        view = app.session.ledger()
        # Shutting down removes the panels first; a thread read may still deliver after that.
        await app.query_one(LedgerPanel).remove()
        await app.query_one(DecisionStrip).remove()
        app.on_ledger_loaded(LedgerLoaded(view))
        await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_f5_without_a_demo_says_how_to_start_one(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await pilot.pause()
        assert "No demo is playing" in last_toast(app) and "--play FILE" in last_toast(app)


async def test_resuming_a_compare_batch_says_where_its_answers_are(loopback, loopback_config,
                                                                   tmp_path):
    from click.testing import CliRunner

    from app.cli import cli

    cfg = loopback_config()
    prompts = tmp_path / "p.txt"
    prompts.write_text("one question\nanother question\n")
    import asyncio

    ran = await asyncio.to_thread(CliRunner().invoke, cli, ["--config", str(cfg), "compare",
                                                            "-y", str(prompts)])
    assert ran.exit_code == 0, ran.output
    app = make_app(load_settings(cfg))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker))
        [batch] = [s for s in app.screen.sessions if s.title.startswith("compare")]
        assert batch.turns == 2
        app.screen.dismiss(SessionChoice("resume", batch))
        await wait_for(pilot, lambda: app.session.session_id == batch.id)
        await wait_for(pilot, lambda: any(
            f"routedeck review --session {batch.id}" in plain(n) for n in app.query(Notice)))


async def test_resuming_the_open_session_reads_turns_added_elsewhere(loopback, loopback_config):
    import asyncio

    from click.testing import CliRunner

    from app.cli import cli

    cfg = loopback_config()
    app = make_app(load_settings(cfg))
    async with app.run_test(size=SIZE) as pilot:
        await ask_and_wait(pilot, "first question")
        sid = app.session.session_id
        ran = await asyncio.to_thread(CliRunner().invoke, cli, [
            "--config", str(cfg), "ask", "--session", str(sid), "asked from a shell"])
        assert ran.exit_code == 0, ran.output
        await pilot.press("f4")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionPicker))
        [info] = [s for s in app.screen.sessions if s.id == sid]
        app.screen.dismiss(SessionChoice("resume", info))
        await wait_for(pilot, lambda: len(app.session.conversation) == 2)
        assert [m["content"] for m in history(app)][0::2] == ["first question",
                                                              "asked from a shell"]


async def test_a_new_session_clears_the_strip_s_decision(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await ask_and_wait(pilot, "hi")
        strip = app.query_one(DecisionStrip)
        assert plain(strip).startswith("cheap")
        old = app.session.session_id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.session_id != old)
        await pilot.pause()
        assert plain(strip).startswith("route: type a prompt")
