"""What the engine hands to the ledger: one record per attempt (retries and fallbacks each
get their own), so nothing that cost money is ever silently lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

UsageSource = Literal["provider", "estimated"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call, as billed: provider-reported, or estimated when it sent none."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    source: UsageSource = "provider"


@dataclass
class AttemptRecord:
    turn_id: str  # groups the attempts of one turn
    attempt: int  # 1-based within the turn
    session_id: int | None
    tier: str
    model: str
    provider: str
    status: str  # ok | error | cancelled | truncated
    started_at: float  # epoch seconds
    prompt: str = ""
    answer: str = ""  # text received (partial for error/cancelled/truncated)
    task_type: str = ""
    score: float | None = None
    rule: str = ""
    reason: str = ""
    forced: bool = False
    pinned: bool = False
    escalated: bool = False
    escalation_reason: str = ""
    fallback_from: str | None = None
    cache_hit: bool = False
    error_kind: str | None = None
    error_message: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    usage_source: str = "estimated"  # provider | estimated
    price_input_per_mtok: float | None = None  # snapshot of the price in force at call time
    price_output_per_mtok: float | None = None
    price_cached_input_per_mtok: float | None = None
    price_source: str | None = None
    cost_usd: float | None = None  # None: price unknown (never counted as $0)
    premium_cost_usd: float | None = None  # counterfactual on the top tier
    latency_s: float | None = None
    ttft_s: float | None = None
    decision_us: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The row's identity in every store; set once before the first write, so a write that is
    # retried (a locked file, a queue drained later) can never store the attempt twice.
    uid: str = ""


@dataclass(frozen=True)
class BudgetState:
    """Money already spent that counts against the caps (from the ledger)."""

    session_spent: float = 0.0
    day_spent: float = 0.0


class Recorder(Protocol):
    def record_attempt(self, rec: AttemptRecord) -> int:
        """Persist one attempt and return its request id."""
        ...
