"""Escalate/compare from the console: which turn is selected, opening the compare view, and
showing what a verdict changed. The app's actions delegate here; the session decides.

Turn selection: every answered turn in the chat (a streamed answer, or a resumed history
line) is tagged with its turn number. With the prompt empty, Up selects the newest answer and
then older ones, Down newer ones (Down past the newest clears the selection); a mouse click
on an answer selects it too. The escalate key then compares the selected turn, or the last
one when nothing is selected.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widget import Widget

from app.core.conversation.escalation import EscalationRefused, Judged
from app.core.textsafe import inert
from app.tui.bindings import key_for
from app.tui.widgets.chat import AnswerView, ChatView, Notice
from app.tui.widgets.ledger import LedgerPanel
from app.tui.widgets.prompt import PromptInput

if TYPE_CHECKING:
    from app.tui.app import RouteDeckApp

SELECTED = "-selected"


class CompareFlow:
    def __init__(self, app: RouteDeckApp) -> None:
        self.app = app
        self.selected: int | None = None
        self._placeholder: str | None = None

    # --- turn widgets and selection -----------------------------------------------------
    @staticmethod
    def tag(widget: Widget | None, turn_index: int) -> None:
        """Mark a chat widget as showing answered turn ``turn_index`` (0-based)."""
        if widget is not None:
            widget.turn_index = turn_index  # type: ignore[attr-defined]
            widget.add_class("-turn")

    def _widgets(self) -> dict[int, Widget]:
        chat = self.app.query_one(ChatView)
        return {w.turn_index: w for w in chat.query(".-turn")}  # type: ignore[attr-defined]

    def can_select(self) -> bool:
        app = self.app
        if len(app.screen_stack) != 1 or app.running or not app.session.turns:
            return False
        prompt = app.query_one(PromptInput)
        return app.focused is prompt and not prompt.text

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
        if node is None or len(self.app.screen_stack) != 1:
            return
        turn = node.turn_index  # type: ignore[attr-defined]
        self._set(turn, self._widgets())
        self.app.notify(f"Turn {turn + 1} selected: {key_for('escalate', self.app.keymap)} "
                        "compares it on the next tier.")

    def _set(self, turn: int | None, widgets: dict[int, Widget]) -> None:
        for w in widgets.values():
            w.remove_class(SELECTED)
        self.selected = turn
        prompt = self.app.query_one(PromptInput)
        if self._placeholder is None:
            self._placeholder = prompt.placeholder
        if turn is None:
            prompt.placeholder = self._placeholder
            return
        widgets[turn].add_class(SELECTED)
        widgets[turn].scroll_visible(animate=False)
        prompt.placeholder = (f"turn {turn + 1} selected — {key_for('escalate', self.app.keymap)} "
                              "compares it on the next tier · ↓ past the last answer clears")

    def reset(self) -> None:
        self.selected = None
        if self._placeholder is not None:
            self.app.query_one(PromptInput).placeholder = self._placeholder

    # --- escalate -------------------------------------------------------------------------
    def escalate(self, turn_index: int | None = None, tier: str | None = None) -> None:
        from app.tui.screens.compare import CompareScreen

        app = self.app
        if app.running:
            app.notify("Wait for the answer being streamed, or cancel it first.",
                       severity="warning")
            return
        if turn_index is None:
            turn_index = self.selected
        try:
            plan = app.session.plan_escalation(turn_index, tier)
        except EscalationRefused as exc:
            app.notify(str(exc)[:1].upper() + str(exc)[1:], title="Nothing sent",
                       severity="warning", timeout=10)
            return
        app.push_screen(CompareScreen.live(app.session, plan), self._closed)

    def _closed(self, verdict: str | None) -> None:
        app = self.app
        if verdict is None:
            kept = app.session.leave_compare()
            app.notify("No verdict given; the extra answer's cost stays in the ledger"
                       + (" and the pair waits in `routedeck review`." if kept else "."))
        else:
            try:
                judged = app.session.judge(verdict)
            except EscalationRefused as exc:
                app.notify(str(exc), severity="warning")
            except Exception as exc:  # noqa: BLE001 - a store failure is a toast, not a traceback
                app.notify(f"The verdict could not be stored: {type(exc).__name__}: {exc}",
                           severity="error", timeout=10)
            else:
                self._show_verdict(judged)
        self._set(None, self._widgets())
        app.query_one(LedgerPanel).show(app.session.ledger())
        app.refresh_header()

    def _show_verdict(self, judged: Judged) -> None:
        app = self.app
        kept = judged.kept
        if judged.kept_compared:
            widget = self._widgets().get(judged.turn_index)
            text = inert(kept.text)
            if isinstance(widget, AnswerView):
                widget.replace_answer(replace(kept, text=text))
            elif isinstance(widget, Notice):
                widget.update(Content(text))
            if judged.turn_index == len(app.session.turns) - 1:
                app.last_answer = kept.text
        lines = [f"Verdict stored: {judged.label}." if judged.stored
                 else f"Verdict: {judged.label} (no ledger, so it is not stored)."]
        lines.append(f"Kept the {kept.tier} answer ({kept.model}) in the conversation.")
        if judged.sticky_note:
            note = judged.sticky_note
            lines.append(f"{note[:1].upper()}{note[1:]}; {key_for('pin_tier', app.keymap)} "
                         "undoes it.")
        app.notify(" ".join(lines), timeout=10)

