"""Ctrl+R: pick a stored session to resume."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class SessionPicker(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="sessions_close")]

    def __init__(self, sessions: list[tuple[int, str, int, str]], current: int | None) -> None:
        super().__init__()
        self.sessions = sessions
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="session-picker", classes="dialog") as box:
            box.border_title = "Resume a session"
            box.border_subtitle = "enter resumes · esc closes"
            if not self.sessions:
                yield Static("No stored sessions yet.")
                return
            yield OptionList(*[
                Option(f"session {sid:<5} {when}   {turns} turn(s)   {spent}"
                       + ("   (current)" if sid == self.current else ""), id=str(sid))
                for sid, when, turns, spent in self.sessions
            ])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id or 0))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
