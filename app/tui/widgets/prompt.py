"""The multi-line prompt: Enter sends, the configured newline key adds a line break."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class PromptInput(TextArea):
    """A TextArea whose Enter sends. Both keys are priority bindings with ids, so they win
    over TextArea's own Enter handling and can still be remapped through [keymap]."""

    BINDINGS = [
        Binding("enter", "send", "Send", id="send", priority=True),
        Binding("ctrl+j", "newline", "Newline", id="newline", priority=True, show=False),
    ]

    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt = prompt
            self.text = text

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("show_line_numbers", False)
        kwargs.setdefault("tab_behavior", "focus")
        super().__init__(**kwargs)
        self.placeholder = "Ask anything — Enter sends, Ctrl+J adds a line"

    def action_send(self) -> None:
        text = self.text
        if text.strip():
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def set_prompt(self, text: str) -> None:
        self.text = text
        self.move_cursor(self.document.end)
