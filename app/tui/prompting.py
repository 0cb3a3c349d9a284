"""The console's prompt keys: history (Up/Down, Ctrl+R), regenerate and edit the last prompt,
copy an answer or a code block. Mixed into :class:`app.tui.app.RouteDeckApp`; the session
decides, these only collect the user's intent and show the result."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from app.core.conversation.session import SessionError
from app.tui.history import HistorySearch, PromptHistory
from app.tui.widgets.chat import AnswerView, ChatView, Notice
from app.tui.widgets.prompt import PromptInput

if TYPE_CHECKING:
    from app.tui.app import RouteDeckApp

_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^```", re.M | re.S)


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced code block, in order."""
    return [(m.group(1) or "text", m.group(2).rstrip("\n")) for m in _FENCE.finditer(markdown)]


class PromptActions:
    history: PromptHistory
    editing_last: bool

    # --- history ------------------------------------------------------------------------
    def load_prompt_history(self: RouteDeckApp) -> None:
        self.off_loop(self.session.prompt_history, self.history.load,
                      "Earlier prompts could not be read")

    def history_applies(self: RouteDeckApp) -> bool:
        prompt = self.query_one(PromptInput)
        return not self.modal_open and prompt.has_focus and self.history.stepping(prompt.text)

    def action_history(self: RouteDeckApp, delta: int) -> None:
        self.query_one(PromptInput).set_prompt(self.history.step(delta))

    def action_search_history(self: RouteDeckApp) -> None:
        def chosen(prompt: str | None) -> None:
            if prompt is not None:
                self.query_one(PromptInput).set_prompt(prompt)

        self.push_screen(HistorySearch(list(self.history.items)), chosen)

    # --- regenerate / edit -----------------------------------------------------------------
    def action_regenerate(self: RouteDeckApp) -> None:
        self._replace_last(None)

    def action_edit_last(self: RouteDeckApp) -> None:
        if self.running:
            self.notify("Wait for the answer being streamed, or cancel it first.",
                        severity="warning")
            return
        last = self.session.conversation.last_prompt()
        if last is None:
            self.notify("There is no prompt to edit yet.", severity="warning")
            return
        self.editing_last = True
        self.query_one(PromptInput).set_prompt(last)
        self.notify("Editing the last prompt: sending it replaces that turn (esc in an empty "
                    "prompt keeps it).")

    def _replace_last(self: RouteDeckApp, prompt: str | None) -> bool:
        if self.running:
            self.notify("Wait for the answer being streamed, or cancel it first.",
                        severity="warning")
            return False
        old = len(self.session.conversation) - 1
        try:
            index = self.session.replace_last(prompt)
        except SessionError as exc:
            self.notify(str(exc)[:1].upper() + str(exc)[1:], severity="warning")
            return False
        chat = self.query_one(ChatView)
        for view in chat.query(AnswerView):
            if getattr(view, "turn_index", None) == old:
                view.mark_replaced()
        for line in chat.query(Notice):  # an offline turn has its "not sent" line instead
            if line.turn_index == old:
                line.mark_replaced()
        self.start_turn(index, self.session.conversation[index].prompt)
        return True

    # --- copy ------------------------------------------------------------------------------
    def chosen_answer(self: RouteDeckApp) -> tuple[int, str] | None:
        """(turn index, text) of the selected answer, else the last answered one."""
        conv = self.session.conversation
        index = self.compare.selected if self.compare is not None else None
        if index is None or not (0 <= index < len(conv)) or not conv[index].answered:
            index = conv.last_answered()
        if index is None:
            return None
        answer = conv[index].answer
        return (index, answer.text) if answer is not None else None

    def action_copy_answer(self: RouteDeckApp) -> None:
        chosen = self.chosen_answer()
        if chosen is None:
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        self.copy_text(chosen[1], f"the answer of turn {chosen[0] + 1}")

    def copy_text(self: RouteDeckApp, text: str, what: str) -> None:
        try:
            import pyperclip

            pyperclip.copy(text)
        except Exception:  # noqa: BLE001 - pyperclip raises its own types for a missing clipboard
            self.copy_to_clipboard(text)
            self.notify(f"No system clipboard here; sent {what} with OSC 52 instead (works if "
                        "your terminal allows clipboard access).", severity="warning")
            return
        self.notify(f"Copied {what} ({len(text)} characters).")
