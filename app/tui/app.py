"""The RouteDeck console: composes the panels and routes core events to them.

The turn worker only iterates the session's events and posts them as messages; handlers
render them. Nothing here decides a route, computes a cost or creates an event: cancelling
asks the session, and the engine's "cancelled" ending arrives like any other. Ledger
reads run in a thread worker, so a slow disk never holds up a key press.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.notifications import SeverityLevel
from textual.theme import Theme
from textual.widgets import Footer, Static

from app.core.calling.events import Answer, RouteDecided, StickyTier, TurnFinished
from app.core.conversation.session import ConsoleSession, SessionError
from app.core.ledger.base import StoreError
from app.core.textsafe import inert
from app.tui import themes
from app.tui.bindings import APP_BINDINGS, build_keymap, key_for
from app.tui.commands import RouteDeckCommands
from app.tui.compare_flow import CompareFlow
from app.tui.fmt import format_usd, tier_style
from app.tui.history import PromptHistory
from app.tui.messages import LedgerLoaded, PlayDone, PlaySend, PlayType, TurnEvent
from app.tui.playback import Playback
from app.tui.prompting import PromptActions
from app.tui.session_actions import SessionActions
from app.tui.widgets.chat import AnswerView, ChatView
from app.tui.widgets.decision import DecisionPanel, Outcome
from app.tui.widgets.ledger import LedgerPanel
from app.tui.widgets.prompt import PromptInput
from app.tui.widgets.strip import DecisionStrip

T = TypeVar("T")
WIDE_COLUMNS = 120  # full-width side panels from here
NARROW_COLUMNS = 90  # narrower side panels from here; below, the one-line strip
MIN_ROWS = 20



def _panels_fit(width: int, height: int) -> bool:
    """The side panels fit beside the chat at this terminal size."""
    return width >= NARROW_COLUMNS and height >= MIN_ROWS

class RouteDeckApp(PromptActions, SessionActions, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "RouteDeck"
    BINDINGS = APP_BINDINGS
    COMMANDS = App.COMMANDS | {RouteDeckCommands}

    def get_system_commands(self, screen):  # -> Iterable[SystemCommand]
        # Textual's own Quit would sit beside RouteDeck's (which saves and says its key).
        return (c for c in super().get_system_commands(screen) if c.title != "Quit")

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
        self.running_turn: int | None = None  # conversation index of the turn streaming now
        self.current_prompt = ""
        self._answer: AnswerView | None = None
        self._play_pending: str | None = None
        self.compare: CompareFlow | None = None  # built once the chat and prompt exist
        self.history = PromptHistory()
        self.editing_last = False  # the next send replaces the last turn (ctrl+l)
        self.panels: bool | None = None  # side panels shown/hidden by F3; None: by size
        self._panels_chosen_fitting = False  # whether the panels fitted when F3 chose
        self.blind = self.settings.ui.blind_compare
        self._telemetry_told = False
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
        yield DecisionStrip(names, id="decision-strip")
        prompt = PromptInput(id="prompt")
        prompt.cursor_blink = self._cursor_blink
        prompt.placeholder = (f"Ask anything — {key_for('send', self.keymap)} sends, "
                              f"{key_for('newline', self.keymap)} adds a line")
        yield prompt
        yield Footer()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        # Plain text by default: messages quote config keys ("[keymap]"), paths and server
        # errors, which Textual's markup would eat or misread as tags.
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_mount(self) -> None:
        self.compare = CompareFlow(self, self.query_one(ChatView), self.query_one(PromptInput))
        self.set_keymap(self.keymap)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.query_one(DecisionPanel).set_pin(self.session.state.pinned_tier)
        self.apply_layout()
        self.show_stored_turns()
        self.refresh_ledger()
        self.load_prompt_history()
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
        # A few hundred bytes, written here rather than in a thread: a choice made just before
        # quitting must not be lost with an unfinished worker.
        if not themes.save_theme(theme.name, self.settings.ui.theme):
            self.notify("Could not save the theme choice (data dir not writable).",
                        severity="warning")

    def _header_text(self) -> Content:
        s = self.session
        sid = s.session_id if s.session_id is not None else "-"
        head: list[Content | str | tuple[str, str]] = [("RouteDeck", "bold"), f" — session {sid}"]
        tiers: list[Content | str | tuple[str, str]] = [" —"]
        for tier in self.settings.tiers:
            tiers += [" ", (f"{tier.name}:", tier_style(tier.name, s.tier_names)), f" {tier.model} "]
        state: list[Content | str | tuple[str, str]] = []
        if s.system_prompt:
            state.append((" — own system prompt", "$accent"))
        if s.state.pinned_tier:
            state.append((f" — pinned: {s.state.pinned_tier}", "$warning bold"))
        if s.state.force_next:
            state.append((f" — next prompt: {s.state.force_next}", "$warning bold"))
        if s.state.sticky_tier and not s.state.pinned_tier:
            state.append((f" — staying on {s.state.sticky_tier}", "$warning bold"))
        if s.offline:
            state.append((" — offline (no model is called)", "$rd-cost-warning"))
        if self.playback is not None and not self.playback.finished:
            playing = "paused" if self.playback.paused else "playing"
            key = key_for("play_pause", self.keymap)
            state.append((f" — demo {playing} {self.playback.sent}/{len(self.playback.prompts)}"
                          f" ({key} {'resumes' if self.playback.paused else 'pauses'})",
                          "$accent"))
        full = Content.assemble(*head, *tiers, *state)
        if len(full.plain) <= self.size.width:
            return full
        # Too wide: the session's state (pinned, staying on, offline) matters more than the
        # tiers' model names, which the decision panel and F2 show anyway; without a state,
        # the tier names alone rather than a line cut inside a model name.
        if state:
            return Content.assemble(*head, *state)
        names: list[Content | str | tuple[str, str]] = [" — tiers"]
        for tier in self.settings.tiers:
            names += [" ", (tier.name, tier_style(tier.name, s.tier_names))]
        return Content.assemble(*head, *names)

    # --- layout by terminal size ----------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        # The event's size: this handler runs before the App records the new size, so
        # self.size would still be the previous one (each resize laid out the one before).
        self.apply_layout(event.size)
        self.call_later(self.refresh_header)

    def apply_layout(self, size: Size | None = None) -> None:
        """Side panels at full width from 120 columns, narrower from 90; below that (or under
        20 rows, or hidden with F3) a one-line decision strip takes their place. Shown with F3
        where they do not fit beside the chat, the panels take the whole pane side by side
        (F3 again brings the chat back): squeezed beside it, the decision lost its lines."""
        width, height = size or self.size
        fits = _panels_fit(width, height)
        if self.panels is not None and fits != self._panels_chosen_fitting:
            # F3 chose for the size it was pressed at: a resize past the point where the
            # panels fit (or stop fitting) goes back to the layout for the new size.
            self.panels = None
        shown = fits if self.panels is None else self.panels
        self.set_class(not shown, "-no-side")
        self.set_class(shown and not fits, "-panels-only")
        self.set_class(shown and fits and width < WIDE_COLUMNS, "-narrow-side")
        # A compact footer fits the keys that matter into 80 columns.
        self.query_one(Footer).compact = width < WIDE_COLUMNS

    def kept_after_compare(self, turn_index: int, answer: Answer) -> None:
        if turn_index == len(self.session.conversation) - 1:
            self.query_one(DecisionPanel).show_outcome(Outcome(answer, "ok", True))
            self.query_one(DecisionStrip).show_answered(answer.tier)

    def action_toggle_blind(self) -> None:
        self.blind = not self.blind
        self.notify("Blind compare on: A and B in random order, tiers shown after your verdict."
                    if self.blind else "Blind compare off: the compare view names each tier.")

    def action_toggle_panels(self) -> None:
        self.panels = self.has_class("-no-side")
        self._panels_chosen_fitting = _panels_fit(*self.size)
        self.apply_layout()

    def refresh_header(self) -> None:
        self.query_one("#header-line", Static).update(self._header_text())

    @property
    def running(self) -> bool:
        return self.running_turn is not None

    @property
    def modal_open(self) -> bool:
        return len(self.screen_stack) != 1

    def refresh_ledger(self) -> None:
        """Re-read the ledger panel's figures in a thread (the store may be slow or locked)."""
        self.run_worker(self._read_ledger, thread=True, group="ledger", exclusive=True,
                        exit_on_error=False)

    def _read_ledger(self) -> None:
        try:
            self.post_message(LedgerLoaded(self.session.ledger()))
        except (sqlite3.Error, OSError, StoreError) as exc:
            # A locked or damaged database (or an unreachable team one) must not take the
            # console down with a traceback.
            self.post_message(LedgerLoaded(None, f"The ledger could not be read ({exc}); "
                                                 "totals are not updated."))

    def on_ledger_loaded(self, message: LedgerLoaded) -> None:
        if message.view is None:
            self.notify(message.problem, severity="error")
            return
        try:
            panel, strip = self.query_one(LedgerPanel), self.query_one(DecisionStrip)
        except NoMatches:
            return  # the read finished after the console began to close
        panel.show(message.view)  # type: ignore[arg-type]
        strip.show_ledger(message.view)  # type: ignore[arg-type]

    def show_stored_turns(self) -> None:
        chat = self.query_one(ChatView)
        conversation = self.session.conversation
        for i, turn in enumerate(conversation.turns):
            if turn.status == "offline" and turn.decision is not None:
                chat.add_user(inert(turn.prompt))
                d = turn.decision
                self._not_sent_line(i, d.tier, d.model, d.est_cost_usd)
                continue
            if not turn.answered or turn.answer is None:
                continue
            chat.add_user(inert(turn.prompt))
            view = chat.add_answer(turn.answer.tier, turn.answer.model)
            view.show(turn.answer, turn.status)
            CompareFlow.tag(view, i)
        if len(conversation):
            chat.add_notice(f"Resumed session {self.session.session_id}.", "info")

    # --- turns ----------------------------------------------------------------------------
    def on_prompt_input_submitted(self, message: PromptInput.Submitted) -> None:
        self.send(message.text)

    def send(self, text: str) -> bool:
        if self.running:
            self.notify(f"An answer is still streaming ({key_for('cancel', self.keymap)} cancels it).",
                        severity="warning")
            return False
        self.history.add(text)
        if self.editing_last:
            self.editing_last = False
            return self._replace_last(text)
        self.start_turn(self.session.start_turn(text), text)
        return True

    def start_turn(self, index: int, text: str) -> None:
        self.running_turn = index
        self.current_prompt = text
        self._answer = None
        self.query_one(PromptInput).clear()
        chat = self.query_one(ChatView)
        chat.add_user(inert(text))
        # The reader may have scrolled up: a new turn is always brought into view.
        chat.anchor()
        chat.scroll_end(animate=False)
        if self.playback is not None:
            self.playback.turn_started()
        self.run_worker(self._turn_worker(index), group="turn", exclusive=True,
                        exit_on_error=False)

    async def _turn_worker(self, index: int) -> None:
        async for event in self.session.run_turn(index):
            self.post_message(TurnEvent(index, event))

    def on_turn_event(self, message: TurnEvent) -> None:
        if message.turn != self.running_turn:
            return
        ev = message.event
        if isinstance(ev, RouteDecided):
            self.query_one(DecisionPanel).show(ev.decision)
            self.query_one(DecisionStrip).show_decision(ev.decision)
        elif isinstance(ev, StickyTier):
            self.refresh_header()
        elif isinstance(ev, TurnFinished):
            self._finish_turn(message.turn, ev)
        else:
            if self._answer is None:
                d = self.session.conversation[message.turn].decision
                self._answer = self.query_one(ChatView).add_answer(
                    d.tier if d else "?", d.model if d else "?")
            self._answer.apply(ev)

    def _finish_turn(self, index: int, ev: TurnFinished) -> None:
        chat = self.query_one(ChatView)
        self.running_turn = None
        if ev.status not in ("offline", "blocked"):
            self.query_one(DecisionPanel).show_outcome(Outcome(ev.answer, ev.status))
            self.query_one(DecisionStrip).show_answered(ev.answer.tier)
        if ev.status == "offline":
            self._offline_notice(index, ev)
        elif ev.status != "blocked" and (self._answer is not None or ev.answer.text):
            if self._answer is None:
                self._answer = chat.add_answer(ev.answer.tier, ev.answer.model)
            self._answer.apply(ev)
            if ev.answered:
                CompareFlow.tag(self._answer, index)
        if ev.status == "cancelled" and self._answer is None:
            chat.add_notice("Cancelled before the first token.", "info")
        if ev.status in ("error", "blocked", "crashed"):
            # Server text can hold markup-like brackets or escapes: plain, inert text.
            chat.add_notice(Content(inert(ev.message or "The turn failed.")), "error")
        if ev.status in ("error", "blocked", "crashed", "cancelled"):
            self._restore_prompt()
        self._answer = None
        self.refresh_ledger()
        self.refresh_header()
        self._telemetry_notice()
        self._core_notes(ev)
        self._turn_idle()

    def _telemetry_notice(self) -> None:
        """The collector could not be reached: said once, the turns go on."""
        notice = self.session.services.telemetry_notice
        if notice and not self._telemetry_told:
            self._telemetry_told = True
            self.notify(notice, title="Telemetry", severity="warning", timeout=12)

    def _core_notes(self, ev: TurnFinished) -> None:
        """What the core wants said besides the answer (an attempt not in the ledger, a
        usage figure not believed, the cache switched off): one toast, plain text."""
        notes = [*ev.notes, *self.session.services.take_notices()]
        if notes:
            self.notify("\n".join(inert(n) for n in notes), title="Note", severity="warning",
                        timeout=12, markup=False)

    def _offline_notice(self, index: int, ev: TurnFinished) -> None:
        chat = self.query_one(ChatView)
        decision = self.session.conversation[index].decision
        self._not_sent_line(index, ev.answer.tier, ev.answer.model,
                            decision.est_cost_usd if decision else None)
        if not self.session.offline_notice_shown:
            self.session.offline_notice_shown = True
            chat.add_notice(Content.assemble(("Offline. ", "bold"), inert(ev.message)), "offline")

    def _not_sent_line(self, index: int, tier: str, model: str, est: float | None) -> None:
        line = self.query_one(ChatView).add_notice(Content.assemble(
            ("not sent", "bold $rd-cost-warning"),
            f" — would go to {tier} ({model}), estimated {format_usd(est)}"), "offline-line")
        line.turn_index = index  # so an edit of this prompt (ctrl+l) can mark it replaced

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
        if action == "escalate":
            return len(self.screen_stack) == 1  # elsewhere the key belongs to that screen
        if action == "select_turn":
            return self.compare is not None and self.compare.can_select()
        if action == "history":
            return self.history_applies()
        if action == "search_history":
            return not self.modal_open
        return True

    def action_send_prompt(self) -> None:
        self.query_one(PromptInput).action_send()

    def action_cancel_turn(self) -> None:
        if self.running:
            if not self.session.cancel_turn():
                self.notify("Cancelling…")
        elif self.editing_last:
            self.editing_last = False
            self.query_one(PromptInput).clear()
            self.notify("The last turn stays as it was.")

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
    def _flow(self) -> CompareFlow:
        assert self.compare is not None, "the console is not mounted yet"
        return self.compare

    def action_escalate(self) -> None:
        self._flow().escalate()

    def escalate(self, turn_index: int | None = None, tier: str | None = None) -> None:
        self._flow().escalate(turn_index, tier)

    def action_select_turn(self, delta: int) -> None:
        self._flow().select(delta)

    def on_click(self, event: events.Click) -> None:
        self._flow().clicked(event.widget)

    def action_force_premium(self) -> None:
        tier = self.session.force_premium_next()
        self.refresh_header()
        self.notify(f"The next prompt goes to {tier}.")

    def off_loop(self, work: Callable[[], T], done: Callable[[T], object], what: str) -> None:
        """Run ``work`` (store or disk I/O) in a thread, then ``done(result)`` on the UI loop;
        a database or disk failure becomes a toast saying ``what`` could not be done."""

        def run() -> None:
            try:
                result = work()
            except SessionError as exc:  # said in words for the user already
                self.call_from_thread(self.notify, str(exc), severity="warning")
                return
            except Exception as exc:  # noqa: BLE001 - a disk or store failure is a toast
                self.call_from_thread(self.notify, f"{what}: {type(exc).__name__}: {exc}",
                                      severity="error", timeout=10)
                return
            self.call_from_thread(done, result)

        self.run_worker(run, thread=True, group="io", exit_on_error=False)

    def action_ledger_details(self) -> None:
        from app.tui.screens.ledger_details import LedgerDetailsScreen

        label = f"session {self.session.session_id}" if self.session.session_id else "this session"
        self.off_loop(lambda: (self.session.ledger(), self.session.verdict_stats()),
                      lambda figures: self.push_screen(LedgerDetailsScreen(
                          figures[0], self.session.tier_names, label, figures[1],
                          key_for("escalate", self.keymap), offline=self.session.offline)),
                      "The ledger could not be read")

    def action_help(self) -> None:
        from app.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.keymap))

    def action_toggle_play(self) -> None:
        if self.playback is not None and self.playback.finished:
            self.notify("The demo has played every prompt.")
            return
        if self.playback is None:
            self.notify("No demo is playing: start one with `routedeck --play FILE` (one "
                        "prompt per line); F5 then pauses and resumes it.")
            return
        if self.playback.paused and self.query_one(PromptInput).text.strip():
            # The demo types its next prompt into the input: it would replace the draft.
            self.notify("Your draft is in the input: send it (enter) or clear it, then "
                        f"{key_for('play_pause', self.keymap)} resumes the demo.",
                        severity="warning")
            return
        paused = self.playback.toggle()
        self.refresh_header()
        self.notify("Demo paused." if paused else "Demo resumed.")

    def reset_screen(self) -> None:
        self.query_one(ChatView).clear_chat()
        decision = self.query_one(DecisionPanel)
        decision.decision = None
        decision.set_pin(self.session.state.pinned_tier)
        self.query_one(DecisionStrip).clear_decision()
        self.editing_last = False
        self._flow().reset()
        self.refresh_ledger()
        self.refresh_header()
