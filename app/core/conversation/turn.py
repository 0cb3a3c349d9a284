"""The conversation as Turn records: the one place a turn's state lives.

A :class:`Turn` holds what happened to one prompt: the routing decision, each attempt, the
answer of record (replaced when a verdict keeps a re-run's answer), the comparison and its
verdict, and the stored message it maps to. The history sent with the next prompt is derived
from the turns that were answered, so it can never disagree with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.calling.events import (
    Answer,
    AttemptFailed,
    AttemptStarted,
    Event,
    RouteDecided,
    TurnFinished,
)
from app.core.routing.types import RouteDecision


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    tier: str
    model: str
    why: str  # routed, retry, fallback, escalation, forced
    error_kind: str = ""
    message: str = ""


@dataclass
class Turn:
    prompt: str
    decision: RouteDecision | None = None
    status: str = "running"  # running, then the TurnFinished status
    answer: Answer | None = None  # the answer of record (what the conversation goes on with)
    message: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    compared: Answer | None = None  # another tier's answer to the same prompt (compare view)
    verdict: str | None = None
    message_id: int | None = None  # the stored assistant message, when there is a store
    user_message_id: int | None = None  # the stored prompt
    superseded: bool = False  # regenerated or edited: no longer part of the conversation
    fresh: bool = False  # a regenerated turn: never answered from the cache
    replaces: str = ""  # ledger turn id of the answer it replaces (regenerate / edit)

    @property
    def answered(self) -> bool:
        return self.status in ("ok", "truncated") and self.answer is not None \
            and bool(self.answer.text) and not self.superseded

    @property
    def running(self) -> bool:
        return self.status == "running"

    def apply(self, ev: Event) -> None:
        """Fold one engine event into the record."""
        if isinstance(ev, RouteDecided):
            self.decision = ev.decision
        elif isinstance(ev, AttemptStarted):
            self.attempts.append(Attempt(ev.attempt, ev.tier, ev.model, ev.why))
        elif isinstance(ev, AttemptFailed) and self.attempts:
            last = self.attempts[-1]
            self.attempts[-1] = Attempt(last.number, last.tier, last.model, last.why,
                                        ev.error_kind, ev.message)
        elif isinstance(ev, TurnFinished):
            self.status = ev.status
            self.answer = ev.answer
            self.message = ev.message


class Conversation:
    """Every turn of one session, in order (failed and offline ones included)."""

    def __init__(self, turns: list[Turn] | None = None) -> None:
        self.turns: list[Turn] = list(turns or [])

    def __len__(self) -> int:
        return len(self.turns)

    def __getitem__(self, index: int) -> Turn:
        return self.turns[index]

    def start(self, prompt: str) -> int:
        self.turns.append(Turn(prompt))
        return len(self.turns) - 1

    def history(self, before: int | None = None, offline_too: bool = False
                ) -> list[dict[str, str]]:
        """The chat messages of the answered turns (those before turn ``before``); with
        ``offline_too`` also the prompts routed offline, as if answered (with no text): what
        routing sees, so an offline session projects the follow-ups a connected one makes."""
        out: list[dict[str, str]] = []
        for turn in self.turns[:before]:
            if turn.answered and turn.answer is not None:
                out.append({"role": "user", "content": turn.prompt})
                out.append({"role": "assistant", "content": turn.answer.text})
            elif offline_too and turn.status == "offline" and not turn.superseded:
                out.append({"role": "user", "content": turn.prompt})
                out.append({"role": "assistant", "content": ""})
        return out

    def answered(self) -> list[int]:
        """Indexes of the answered turns, oldest first."""
        return [i for i, t in enumerate(self.turns) if t.answered]

    def last_answered(self) -> int | None:
        done = self.answered()
        return done[-1] if done else None

    def last_prompt(self) -> str | None:
        return self.turns[-1].prompt if self.turns else None
