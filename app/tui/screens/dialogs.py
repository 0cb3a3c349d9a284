"""Small modal dialogs: one line of text (rename, system prompt) and a yes/no question."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class AskText(ModalScreen[str | None]):
    """Enter returns the text (possibly empty), Esc returns None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="ask_text_close")]
    AUTO_FOCUS = "#ask-text"

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "enter saves · esc cancels"
            yield Static(self.hint, classes="dialog-hint")
            yield Input(value=self.value, id="ask-text")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "no", id="confirm_no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "Are you sure?"
            box.border_subtitle = "y yes · n / esc no"
            yield Static(self.question)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
