"""Messages workers post to the app; the handlers own every state change."""

from __future__ import annotations

from textual.message import Message

from app.core.calling.events import Event


class TurnEvent(Message):
    """One engine event of turn number ``turn`` (stale turns are ignored by the handler)."""

    def __init__(self, turn: int, event: Event) -> None:
        super().__init__()
        self.turn = turn
        self.event = event


class TurnCrashed(Message):
    """The engine raised instead of finishing the turn: shown as text, never a traceback."""

    def __init__(self, turn: int, text: str) -> None:
        super().__init__()
        self.turn = turn
        self.text = text


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
