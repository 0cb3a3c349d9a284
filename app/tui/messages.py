"""Messages workers post to the app; the handlers own every state change."""

from __future__ import annotations

from textual.message import Message

from app.core.calling.events import Event


class TurnEvent(Message):
    """One core event of conversation turn ``turn`` (0-based index)."""

    def __init__(self, turn: int, event: Event) -> None:
        super().__init__()
        self.turn = turn
        self.event = event


class LedgerLoaded(Message):
    """The ledger panel's figures, read from the store in a thread worker."""

    def __init__(self, view: object | None, problem: str = "") -> None:
        super().__init__()
        self.view = view
        self.problem = problem


class PlayType(Message):
    """Demo playback: show this much of the next prompt in the input."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PlaySend(Message):
    """Demo playback: send this prompt now."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PlayDone(Message):
    def __init__(self, sent: int) -> None:
        super().__init__()
        self.sent = sent
