"""The RouteDeck console: composes the panels and routes engine events to them.

State lives in the handlers: the turn worker only iterates the session's events and posts
them as messages; nothing here decides a route or computes a cost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.theme import Theme
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from app.core.calling.events import (
    AttemptFailed,
    AttemptStarted,
    CacheHit,
    Escalated,
    RouteDecided,
    TextDelta,
    TurnFinished,
)
from app.core.conversation.session import ConsoleSession
from app.core.textsafe import inert
from app.tui import themes
from app.tui.bindings import APP_BINDINGS, build_keymap, key_for
from app.tui.commands import RouteDeckCommands
from app.tui.compare_flow import CompareFlow
from app.tui.fmt import format_usd, tier_style
from app.tui.messages import PlayDone, PlaySend, PlayType, TurnCrashed, TurnEvent
from app.tui.playback import Playback
from app.tui.widgets.chat import AnswerView, ChatView
from app.tui.widgets.decision import DecisionPanel
from app.tui.widgets.ledger import LedgerPanel
from app.tui.widgets.prompt import PromptInput


class RouteDeckApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "RouteDeck"
    BINDINGS = APP_BINDINGS
    COMMANDS = App.COMMANDS | {RouteDeckCommands}

    def __init__(
        self,
        session: ConsoleSession,
        *,
        playback: Playback | None = None,
        startup_problems: list[str] | None = None,
        theme_dirs: list[Path] | None = None,
        warm_up: bool = True,
        cursor_blink: bool = True,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = session.settings
        self.keymap, keymap_problems = build_keymap(self.settings)
        self.startup_problems = [*(startup_problems or []), *keymap_problems]
        self.playback = playback
        self._theme_dirs = theme_dirs
        self._warm_up = warm_up
        self._cursor_blink = cursor_blink
        self.turn_no = 0
        self.running = False
        self.current_prompt = ""
        self.last_answer = ""
        self._answer: AnswerView | None = None
        self._play_pending: str | None = None
        self.compare = CompareFlow(self)
        # Themes are registered and chosen before the first compose, so the stylesheet is
        # applied once with the right colours instead of twice.
        self._apply_themes()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(themes.VARIABLE_DEFAULTS)

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        names = self.session.tier_names
        yield Static(self._header_text(), id="header-line")
        with Horizontal(id="main"):
            yield ChatView(names, self.settings.ui.max_mounted_turns, id="chat")
            with Vertical(id="side"):
                yield DecisionPanel(names, id="decision")
                yield LedgerPanel(names, id="ledger")
        prompt = PromptInput(id="prompt")
        prompt.cursor_blink = self._cursor_blink
        prompt.placeholder = (f"Ask anything — {key_for('send', self.keymap)} sends, "
                              f"{key_for('newline', self.keymap)} adds a line")
        yield prompt
        yield Footer()

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.query_one(DecisionPanel).set_pin(self.session.state.pinned_tier)
        self._show_history()
        self._refresh_ledger()
        if self.session.store_problem:
            self.startup_problems.append(self.session.store_problem)
        if self.startup_problems:
            self.notify("\n".join(self.startup_problems), title="Start-up problems",
                        severity="warning", timeout=12)
        self.query_one(PromptInput).focus()
        if self._warm_up:
            # Engine, token tables and prices load off the event loop after the first frame.
            self.run_worker(self.session.warm_up, thread=True, group="warm-up",
                            exit_on_error=False)
        if self.playback is not None:
            self.run_worker(self.playback.run(self.post_message), group="playback",
                            exit_on_error=False)

    async def on_unmount(self) -> None:
        await self.session.aclose()

    def _apply_themes(self) -> None:
        loaded, problems = themes.load_themes(self._theme_dirs)
        for theme in loaded:
            self.register_theme(theme)
        if problems:
            self.startup_problems.append(
                "Theme files skipped: " + "; ".join(p.render() for p in problems))
        wanted = themes.chosen_theme(self.settings.ui.theme)
        if wanted not in self.available_themes:
            fallback = themes.FALLBACK_DARK
            self.startup_problems.append(f"Theme '{wanted}' is not available; using {fallback}.")
            wanted = fallback
        self.theme = wanted

    def _theme_changed(self, theme: Theme) -> None:
        if not themes.save_theme(theme.name, self.settings.ui.theme):
            self.notify("Could not save the theme choice (data dir not writable).",
                        severity="warning")

    def _header_text(self) -> Content:
        s = self.session
        sid = s.session_id if s.session_id is not None else "-"
        parts: list[Content | str | tuple[str, str]] = [("RouteDeck", "bold"), f" — session {sid} —"]
        for tier in self.settings.tiers:
            parts += [" ", (f"{tier.name}:", tier_style(tier.name, s.tier_names)), f" {tier.model} "]
        if s.state.pinned_tier:
            parts.append((f" — pinned: {s.state.pinned_tier}", "$warning bold"))
        if s.state.force_next:
            parts.append((f" — next prompt: {s.state.force_next}", "$warning bold"))
        if s.state.sticky_tier and not s.state.pinned_tier:
            parts.append((f" — staying on {s.state.sticky_tier}", "$warning bold"))
        if s.offline:
            parts.append((" — offline (no model is called)", "$rd-cost-warning"))
        if self.playback is not None and not self.playback.finished:
            state = "paused" if self.playback.paused else "playing"
            parts.append((f" — demo {state} {self.playback.sent}/{len(self.playback.prompts)}", "$accent"))
        return Content.assemble(*parts)

    def refresh_header(self) -> None:
        self.query_one("#header-line", Static).update(self._header_text())

    def _refresh_ledger(self) -> None:
        try:
            view = self.session.ledger()
        except (sqlite3.Error, OSError) as exc:
            # A locked or damaged database must not take the console down with a traceback.
            self.notify(f"The ledger could not be read ({exc}); totals are not updated.",
                        severity="error")
            return
        self.query_one(LedgerPanel).show(view)

    def _show_history(self) -> None:
        chat = self.query_one(ChatView)
        history = self.session.history
        for i in range(0, len(history) - 1, 2):
            # Stored text is data: never markup, never terminal escapes.
            chat.add_user(inert(history[i]["content"]))
            notice = chat.add_notice(Content(inert(history[i + 1]["content"])), "history")
            self.compare.tag(notice, i // 2)
        if history:
            chat.add_notice(f"Resumed session {self.session.session_id}.", "info")

    # --- turns ----------------------------------------------------------------------------
    def on_prompt_input_submitted(self, message: PromptInput.Submitted) -> None:
        self.send(message.text)

    def send(self, text: str) -> bool:
        if self.running:
            self.notify(f"An answer is still streaming ({key_for('cancel', self.keymap)} cancels it).",
                        severity="warning")
            return False
        self.turn_no += 1
        self.running = True
        self.current_prompt = text
        self._answer = None
        self.query_one(PromptInput).clear()
        self.query_one(ChatView).add_user(inert(text))
        if self.playback is not None:
            self.playback.turn_started()
        self.run_worker(self._turn_worker(self.turn_no, text), group="turn", exclusive=True,
                        exit_on_error=False)
        return True

    async def _turn_worker(self, turn: int, text: str) -> None:
        try:
            async for event in self.session.run_turn(text):
                self.post_message(TurnEvent(turn, event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any engine failure must reach the screen as text
            self.post_message(TurnCrashed(turn, f"{type(exc).__name__}: {exc}"))

    def _ensure_answer(self, tier: str | None = None, model: str | None = None) -> AnswerView:
        if self._answer is None:
            self._answer = self.query_one(ChatView).add_answer(
                self.query_one(DecisionPanel).decision)
            if tier and model:
                self._answer.attempt(tier, model, "routed")
        return self._answer

    def on_turn_event(self, message: TurnEvent) -> None:
        if message.turn != self.turn_no or not self.running:
            return  # a cancelled turn's late events
        ev = message.event
        if isinstance(ev, RouteDecided):
            self.query_one(DecisionPanel).show(ev.decision)
        elif isinstance(ev, AttemptStarted):
            self._ensure_answer().attempt(ev.tier, ev.model, ev.why)
        elif isinstance(ev, TextDelta):
            self._ensure_answer().append(inert(ev.text))
        elif isinstance(ev, CacheHit):
            answer = self._ensure_answer(ev.tier, ev.model)
            if not answer.parts:
                answer.append(inert(ev.text))
        elif isinstance(ev, AttemptFailed):
            # The message already names provider/model and the fix; the next AttemptStarted
            # (retry or fallback) says what happens next.
            self._ensure_answer().add_note(inert(f"✗ attempt {ev.attempt} on {ev.tier}: {ev.message}"))
        elif isinstance(ev, Escalated):
            self._ensure_answer().add_note(inert(f"escalated {ev.from_tier} → {ev.to_tier}: {ev.reason}"))
        elif isinstance(ev, TurnFinished):
            self._finish_turn(ev)

    def on_turn_crashed(self, message: TurnCrashed) -> None:
        if message.turn != self.turn_no or not self.running:
            return
        decision = self.query_one(DecisionPanel).decision
        self._finish_turn(TurnFinished(
            status="error", text="", tier=decision.tier if decision else "",
            model=decision.model if decision else "",
            message=f"Internal error while answering ({message.text}). The prompt is back in "
                    "the input; `routedeck ask` shows the same error outside the console."))

    def _finish_turn(self, ev: TurnFinished) -> None:
        chat = self.query_one(ChatView)
        self.running = False
        if ev.status == "offline":
            self._offline_notice(ev)
        elif ev.status in ("ok", "truncated", "cancelled", "error"):
            if self._answer is not None or ev.text:
                self._ensure_answer(ev.tier, ev.model).finish(replace(ev, text=inert(ev.text)))
            if ev.status in ("ok", "truncated") and ev.text:
                self.last_answer = ev.text
                self.compare.tag(self._answer, len(self.session.turns) - 1)
        if ev.status in ("error", "blocked"):
            # Server text can hold markup-like brackets or escapes: shown as plain, inert text.
            chat.add_notice(Content(inert(ev.message or "The turn failed without a message.")),
                            "error")
            self._restore_prompt()
        self._answer = None
        self._refresh_ledger()
        self.refresh_header()
        self._turn_idle()

    def _offline_notice(self, ev: TurnFinished) -> None:
        chat = self.query_one(ChatView)
        decision = self.query_one(DecisionPanel).decision
        est = decision.est_cost_usd if decision else None
        chat.add_notice(Content.assemble(
            ("not sent", "bold $rd-cost-warning"),
            f" — would go to {ev.tier} ({ev.model}), estimated {format_usd(est)}"), "offline-line")
        if not self.session.offline_notice_shown:
            self.session.offline_notice_shown = True
            chat.add_notice(Content.assemble(("Offline. ", "bold"), inert(ev.message)), "offline")

    def _restore_prompt(self) -> None:
        prompt = self.query_one(PromptInput)
        if not prompt.text.strip():
            prompt.set_prompt(self.current_prompt)

    def _turn_idle(self) -> None:
        if self._play_pending is not None:
            text, self._play_pending = self._play_pending, None
            self.send(text)
        elif self.playback is not None:
            self.playback.turn_done()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A cancelled turn is recorded by the engine as its worker unwinds; show that row.
        if event.worker.group == "turn" and event.state == WorkerState.CANCELLED:
            self._refresh_ledger()

    # --- playback -------------------------------------------------------------------------
    def on_play_type(self, message: PlayType) -> None:
        if not self.running:
            self.query_one(PromptInput).set_prompt(message.text)

    def on_play_send(self, message: PlaySend) -> None:
        if self.running:
            self._play_pending = message.text
        else:
            self.send(message.text)
        self.refresh_header()

    def on_play_done(self, message: PlayDone) -> None:
        self.refresh_header()
        self.refresh_bindings()  # once: the pause key leaves the footer
        self.notify(f"Demo finished: {message.sent} prompt(s) played.")

    # --- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Esc stays listed even when idle (it then does nothing): toggling it per turn would
        # recompose the Footer twice a turn, and Textual's Footer keeps every recomposed
        # FooterKey alive through its data bindings, which grows memory in long sessions.
        if action == "toggle_play":
            return self.playback is not None and not self.playback.finished
        if action == "escalate":
            return len(self.screen_stack) == 1  # elsewhere the key belongs to that screen
        if action == "select_turn":
            return self.compare.can_select()
        return True

    def action_send_prompt(self) -> None:
        self.query_one(PromptInput).action_send()

    def action_cancel_turn(self) -> None:
        if not self.running:
            return
        self.workers.cancel_group(self, "turn")
        answer = self._answer
        decision = self.query_one(DecisionPanel).decision
        self._finish_turn(TurnFinished(
            status="cancelled", text=answer.text if answer else "",
            tier=answer.tier if answer else (decision.tier if decision else ""),
            model=answer.model if answer else (decision.model if decision else ""),
            latency_s=time.monotonic() - answer.started if answer else 0.0))
        if answer is None:
            self.query_one(ChatView).add_notice("Cancelled before the first token.", "info")
        self._restore_prompt()

    def pin_tier(self, tier: str | None) -> None:
        self.session.set_pin(tier)
        self._pin_changed()

    def action_cycle_pin(self) -> None:
        sticky = self.session.state.sticky_tier
        self.session.cycle_pin()
        ended = sticky and not self.session.state.sticky_tier and not self.session.state.pinned_tier
        self._pin_changed(f" (no longer staying on {sticky})" if ended else "")

    def _pin_changed(self, note: str = "") -> None:
        pin = self.session.state.pinned_tier
        self.query_one(DecisionPanel).set_pin(pin)
        self.refresh_header()
        self.notify(f"Session pinned to {pin}." if pin else f"Routing is automatic again{note}.")

    # escalate / compare: the flow picks the turn and opens the view; the session decides
    def action_escalate(self) -> None:
        self.compare.escalate()

    def escalate(self, turn_index: int | None = None, tier: str | None = None) -> None:
        self.compare.escalate(turn_index, tier)

    def action_select_turn(self, delta: int) -> None:
        self.compare.select(delta)

    def on_click(self, event: events.Click) -> None:
        self.compare.clicked(event.widget)

    def action_force_premium(self) -> None:
        tier = self.session.force_premium_next()
        self.refresh_header()
        self.notify(f"The next prompt goes to {tier}.")

    def action_copy_answer(self) -> None:
        text = self.last_answer
        if not text:
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        try:
            import pyperclip

            pyperclip.copy(text)
        except Exception:  # noqa: BLE001 - pyperclip raises its own types for a missing clipboard
            self.copy_to_clipboard(text)
            self.notify("No system clipboard here; sent the answer with OSC 52 instead "
                        "(works if your terminal allows clipboard access).", severity="warning")
            return
        self.notify(f"Copied the last answer ({len(text)} characters).")

    def action_ledger_details(self) -> None:
        from app.tui.screens.ledger_details import LedgerDetailsScreen

        label = f"session {self.session.session_id}" if self.session.session_id else "this session"
        self.push_screen(LedgerDetailsScreen(self.session.ledger(), self.session.tier_names, label,
                                             self.session.verdict_stats(),
                                             key_for("escalate", self.keymap)))

    def action_help(self) -> None:
        from app.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.keymap))

    def action_toggle_play(self) -> None:
        if self.playback is None:
            return
        paused = self.playback.toggle()
        self.refresh_header()
        self.notify("Demo paused." if paused else "Demo resumed.")

    def action_new_session(self) -> None:
        self.action_cancel_turn()
        self.session.new_session()
        self._reset_screen()
        self.query_one(ChatView).add_notice(f"New session {self.session.session_id}.", "info")

    def action_resume_session(self) -> None:
        from app.tui.screens.sessions import SessionPicker

        self.push_screen(SessionPicker(self.session.list_sessions(), self.session.session_id),
                         self._resume)

    def _resume(self, session_id: int | None) -> None:
        if session_id is None or session_id == self.session.session_id:
            return
        self.action_cancel_turn()
        self.session.resume(session_id)
        self._reset_screen()
        self._show_history()

    def _reset_screen(self) -> None:
        self.query_one(ChatView).clear_chat()
        decision = self.query_one(DecisionPanel)
        decision.decision = None
        decision.set_pin(self.session.state.pinned_tier)
        self.last_answer = ""
        self.compare.reset()
        self._refresh_ledger()
        self.refresh_header()
