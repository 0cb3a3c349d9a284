"""Typed events one turn yields, in order. The TUI and the CLI render exactly these.

A turn always starts with RouteDecided and ends with exactly one TurnFinished, whatever
happened in between (errors, fallback, cancellation, budget block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.core.routing.types import RouteDecision

UsageSource = Literal["provider", "estimated"]
AttemptStatus = Literal["ok", "error", "cancelled", "truncated"]
TurnStatus = Literal["ok", "error", "cancelled", "blocked", "offline", "truncated"]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    source: UsageSource = "provider"


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
class TurnFinished:
    status: TurnStatus
    text: str
    tier: str
    model: str
    usage: Usage | None = None
    cost_usd: float | None = None
    premium_cost_usd: float | None = None  # counterfactual: the same turn on the top tier
    latency_s: float = 0.0
    ttft_s: float | None = None
    cached: bool = False
    fallback_from: str | None = None
    escalated_from: str | None = None
    message: str = ""  # for non-ok statuses: what happened and the fix
    request_ids: tuple[int, ...] = field(default_factory=tuple)


Event = (
    RouteDecided
    | CacheHit
    | AttemptStarted
    | TextDelta
    | UsageReported
    | AttemptFailed
    | Escalated
    | TurnFinished
)
