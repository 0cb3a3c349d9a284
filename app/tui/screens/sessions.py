"""F4: the stored sessions, newest first: resume one, rename it, or delete it.

The screen only collects the user's choice; the app asks the session to do it (off the UI
loop) and reopens the list after a rename or a delete.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from app.core.conversation.session import SessionInfo
from app.tui.history import one_line

TITLE_CHARS = 48


@dataclass(frozen=True)
class SessionChoice:
    action: str  # resume | rename | delete
    session: SessionInfo


class SessionPicker(ModalScreen[SessionChoice | None]):
    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="sessions_close"),
        Binding("r", "choose('rename')", "Rename", id="sessions_rename"),
        Binding("d,delete", "choose('delete')", "Delete", id="sessions_delete"),
    ]

    def __init__(self, sessions: list[SessionInfo], current: int | None) -> None:
        super().__init__()
        self.sessions = sessions
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="session-picker", classes="dialog") as box:
            box.border_title = "Sessions"
            box.border_subtitle = "enter resumes · r renames · d deletes · esc closes"
            if not self.sessions:
                yield Static("No stored sessions yet.")
                return
            # Two lines per session, the same at any width: the number (what --session N and
            # report --session N take) and title, then when, how many turns and the cost.
            yield OptionList(*[
                Option(f"#{s.id:<4} {one_line(s.title, TITLE_CHARS)}\n"
                       f"      {s.last_active} · {s.turns} turn{'s' if s.turns != 1 else ''}"
                       f" · {s.spent}" + (" · open now" if s.id == self.current else ""),
                       id=str(i))
                for i, s in enumerate(self.sessions)
            ])

    def _highlighted(self) -> SessionInfo | None:
        if not self.sessions:
            return None
        index = self.query_one(OptionList).highlighted
        return self.sessions[index] if index is not None else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(SessionChoice("resume", self.sessions[int(event.option.id or 0)]))

    def action_choose(self, action: str) -> None:
        chosen = self._highlighted()
        if chosen is not None:
            self.dismiss(SessionChoice(action, chosen))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
