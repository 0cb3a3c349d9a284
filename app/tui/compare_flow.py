"""Escalate/compare from the console: which turn is selected, opening the compare view, and
showing what a verdict changed. The app's actions delegate here; the session decides.

Turn selection: every answered turn in the chat is tagged with its conversation index. With
the prompt empty, Up selects the newest answer and then older ones, Down newer ones (Down
past the newest clears the selection); a mouse click on an answer selects it too. The
escalate key then compares the selected turn, or the last answered one.
"""

from __future__ import annotations

from typing import Any, Protocol

from textual.widget import Widget

from app.core.conversation.escalation import EscalationRefused, Judged
from app.core.conversation.session import ConsoleSession
from app.tui.bindings import key_for
from app.tui.widgets.chat import AnswerView, ChatView
from app.tui.widgets.prompt import PromptInput

SELECTED = "-selected"


class Host(Protocol):
    """What the flow needs from the console app (and nothing more)."""

    session: ConsoleSession
    keymap: dict[str, str]
    blind: bool

    @property
    def running(self) -> bool: ...

    @property
    def modal_open(self) -> bool: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None) -> None: ...

    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...

    def refresh_ledger(self) -> None: ...

    def off_loop(self, work: Any, done: Any, what: str) -> None: ...

    def kept_after_compare(self, turn_index: int, answer: Any) -> None: ...

    def refresh_header(self) -> None: ...


class CompareFlow:
    def __init__(self, host: Host, chat: ChatView, prompt: PromptInput) -> None:
        self.host = host
        self.chat = chat
        self.prompt = prompt
        self.selected: int | None = None
        self._placeholder: str | None = None

    # --- turn widgets and selection -----------------------------------------------------
    @staticmethod
    def tag(widget: Widget | None, turn_index: int) -> None:
        """Mark a chat widget as showing answered turn ``turn_index`` (conversation index)."""
        if widget is not None:
            widget.turn_index = turn_index  # type: ignore[attr-defined]
            widget.add_class("-turn")

    def _widgets(self) -> dict[int, Widget]:
        return {w.turn_index: w for w in self.chat.query(".-turn")}  # type: ignore[attr-defined]

    def can_select(self) -> bool:
        if self.host.modal_open or self.host.running:
            return False
        return bool(self.host.session.conversation.answered())

    def select(self, delta: int) -> None:
        widgets = self._widgets()
        if not widgets:
            return
        shown = sorted(widgets)
        if self.selected is None or self.selected not in widgets:
            target: int | None = shown[-1] if delta < 0 else None
        else:
            pos = shown.index(self.selected) + delta
            target = shown[max(pos, 0)] if pos < len(shown) else None
        self._set(target, widgets)

    def clicked(self, widget: Widget | None) -> None:
        node = widget
        while node is not None and not hasattr(node, "turn_index"):
            node = node.parent if isinstance(node.parent, Widget) else None
        if node is None or self.host.modal_open:
            return
        turn = node.turn_index  # type: ignore[attr-defined]
        self._set(turn, self._widgets())
        self.host.notify(f"Turn {turn + 1} selected: {key_for('escalate', self.host.keymap)} "
                         "compares it on the next tier.")

    def _set(self, turn: int | None, widgets: dict[int, Widget]) -> None:
        for w in widgets.values():
            w.remove_class(SELECTED)
        self.selected = turn
        if self._placeholder is None:
            self._placeholder = self.prompt.placeholder
        if turn is None:
            self.prompt.placeholder = self._placeholder
            return
        widgets[turn].add_class(SELECTED)
        widgets[turn].scroll_visible(animate=False)
        self.prompt.placeholder = (
            f"turn {turn + 1} selected — {key_for('escalate', self.host.keymap)} compares, "
            f"{key_for('copy_answer', self.host.keymap)} copies · "
            f"{key_for('select_next', self.host.keymap)} past the last answer clears")

    def reset(self) -> None:
        self.selected = None
        if self._placeholder is not None:
            self.prompt.placeholder = self._placeholder

    # --- escalate -------------------------------------------------------------------------
    def escalate(self, turn_index: int | None = None, tier: str | None = None) -> None:
        from app.tui.screens.compare import CompareScreen

        host = self.host
        if host.running:
            host.notify("Wait for the answer being streamed, or cancel it first.",
                        severity="warning")
            return
        if turn_index is None:
            turn_index = self.selected
        try:
            plan = host.session.plan_escalation(turn_index, tier)
        except EscalationRefused as exc:
            host.notify(str(exc)[:1].upper() + str(exc)[1:], title="Nothing sent",
                        severity="warning", timeout=10)
            return
        host.push_screen(CompareScreen.live(host.session, plan, blind=host.blind), self._closed)

    def _closed(self, verdict: str | None) -> None:
        host = self.host
        self._set(None, self._widgets())
        if verdict is None:
            kept = host.session.leave_compare()
            host.notify("No verdict given; the extra answer's cost stays in the ledger"
                        + (" and the pair waits in `routedeck review`." if kept else "."))
            host.refresh_ledger()
            return
        if host.session.pending is None:
            host.notify(str(EscalationRefused("there is no finished comparison to judge")),
                        severity="warning")
            return
        # The verdict, the kept answer and the message swap are store writes: off the loop.
        host.off_loop(lambda: host.session.judge(verdict), self._show_verdict,
                      "The verdict could not be stored")

    def _show_verdict(self, judged: Judged) -> None:
        self.host.refresh_ledger()
        self.host.refresh_header()
        kept = judged.kept
        if judged.kept_compared:
            widget = self._widgets().get(judged.turn_index)
            if isinstance(widget, AnswerView):
                widget.replace_answer(kept)
            self.host.kept_after_compare(judged.turn_index, kept)
        lines = [f"Verdict stored: {judged.label}." if judged.stored
                 else f"Verdict: {judged.label} (not stored)."]
        lines.append(f"Kept the {kept.tier} answer ({kept.model}) in the conversation.")
        if judged.sticky_note:
            note = judged.sticky_note
            lines.append(f"{note[:1].upper()}{note[1:]}; "
                         f"{key_for('pin_tier', self.host.keymap)} undoes it.")
        self.host.notify(" ".join(lines), timeout=10)
