"""The multi-line prompt: Enter sends, the configured newline key adds a line break."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from app.core.config.keys import BINDINGS
from app.core.textsafe import inert


class PromptInput(TextArea):
    """A TextArea whose Enter sends. Both keys are priority bindings with ids, so they win
    over TextArea's own Enter handling and can still be remapped through [keymap]."""

    BINDINGS = [
        # Not in the footer: the placeholder names the send key, and 80 columns need the room.
        Binding(BINDINGS["send"][0], "send", "Send", id="send", priority=True, show=False),
        Binding(BINDINGS["newline"][0], "newline", "Newline", id="newline", priority=True,
                show=False),
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
        # A paste usually ends with a line break; the blank line after it is not the prompt's.
        text = self.text.rstrip()
        if text:
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def set_prompt(self, text: str) -> None:
        self.text = inert(text)
        self.move_cursor(self.document.end)

    async def _on_paste(self, event: events.Paste) -> None:
        # TextArea draws its text as-is, so a pasted ESC/C1 byte would reach the terminal and
        # act (clear the screen, set the clipboard); keep it visible but inert instead.
        # The app forwards a terminal's paste to the focused widget; stopping it here keeps a
        # paste posted to this widget from bubbling back up and being inserted twice.
        event.prevent_default()
        event.stop()
        if self.read_only:
            return
        # Terminals (tmux among them) send pasted line ends as CR: keep them as line breaks.
        text = event.text.replace("\r\n", "\n").replace("\r", "\n")
        if result := self._replace_via_keyboard(inert(text), *self.selection):
            self.move_cursor(result.end_location)
            self.focus()
