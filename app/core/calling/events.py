"""Typed events one turn yields, in order. Every face (console, ``ask``, ``compare``) renders
exactly these, and only the core creates them.

A turn starts with RouteDecided and ends with exactly one TurnFinished, whatever happened in
between: errors, fallback, a budget block, a cancel requested through the turn's cancel
event, or a crash inside the core (status "crashed", raised by the conversation layer).
TurnFinished carries the :class:`Answer` of record, a value separate from the event, so a
conversation can keep answers without keeping events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.ledger.records import Usage
from app.core.routing.types import RouteDecision

__all__ = ["Usage"]  # re-exported: events carry it

AttemptStatus = Literal["ok", "error", "cancelled", "truncated"]
TurnStatus = Literal["ok", "error", "cancelled", "blocked", "offline", "truncated", "crashed"]
# Statuses whose answer text stands (a truncated answer stands, marked as cut).
ANSWERED: frozenset[str] = frozenset({"ok", "truncated"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a turn produced on which tier, and what it cost (all of its attempts)."""

    text: str
    tier: str
    model: str
    usage: Usage | None = None
    cost_usd: float | None = None  # every attempt of the turn; None if any was unpriced
    premium_cost_usd: float | None = None  # counterfactual: the same usage on the top tier
    latency_s: float = 0.0
    ttft_s: float | None = None
    cached: bool = False
    fallback_from: str | None = None
    escalated_from: str | None = None
    finish_reason: str | None = None
    request_ids: tuple[int, ...] = ()
    turn_id: str = ""  # the ledger's turn these attempts belong to
    kept_after_compare: bool = False  # a compare re-run's answer the user's verdict kept

    @property
    def request_id(self) -> int | None:
        """The attempt that produced the text (the last one)."""
        return self.request_ids[-1] if self.request_ids else None

    @property
    def estimated(self) -> bool:
        return self.usage is not None and self.usage.source == "estimated"


@dataclass(frozen=True, slots=True)
class RouteDecided:
    decision: RouteDecision


@dataclass(frozen=True, slots=True)
class CacheHit:
    tier: str
    model: str
    text: str
    saved_usd: float | None
    similarity: float = 1.0


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    attempt: int  # 1-based within the turn
    tier: str
    model: str
    provider: str
    why: str  # "routed", "retry", "fallback", "escalation", "forced"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class UsageReported:
    usage: Usage
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    attempt: int
    tier: str
    model: str
    provider: str
    error_kind: str  # auth, not_found, rate_limit, server, timeout, connection, truncated, ...
    message: str  # readable, names provider/model and the fix; never contains a key
    retryable: bool
    partial_text: str = ""


@dataclass(frozen=True, slots=True)
class Escalated:
    from_tier: str
    to_tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class StickyTier:
    """The rest of the session should stay on ``tier`` (after a fallback or an escalation
    to a higher tier, with ``[router] sticky_after_fallback``); the session applies it."""

    tier: str
    reason: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    status: TurnStatus
    answer: Answer
    message: str = ""  # for non-ok statuses (and cut answers): what happened and the fix
    # Whatever the status, what the user should also know: an attempt not (yet) recorded in
    # the ledger, a usage figure from the server that was not believed.
    notes: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED and bool(self.answer.text)


Event = (
    RouteDecided
    | CacheHit
    | AttemptStarted
    | TextDelta
    | UsageReported
    | AttemptFailed
    | Escalated
    | StickyTier
    | TurnFinished
)


@dataclass(frozen=True)
class Continues:
    """This turn re-asks an answered one: its attempts join that turn in the ledger, so its
    saving includes what the re-run cost. A compare re-run (``escalates``) counts the turn as
    escalated once; a regenerated or edited turn replaces the answer and is one turn still."""

    turn_id: str
    attempts: int  # attempts the turn already has
    from_tier: str
    reason: str
    escalates: bool = True
