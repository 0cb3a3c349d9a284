"""Value types shared by the classifier, the router and every face of the app."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TASK_TYPES = (
    "greeting",
    "factual_qa",
    "extraction",
    "classification",
    "summarization",
    "translation",
    "rewrite",
    "code",
    "math",
    "reasoning",
    "analysis",
    "creative",
    "knowledge_mcq",
    "chat",
)


@dataclass(frozen=True, slots=True)
class Signal:
    """One contribution to the score, in words a user understands."""

    label: str
    weight: float

    def render(self) -> str:
        return f"{self.weight:+.2f} {self.label}"


@dataclass(frozen=True, slots=True)
class Classification:
    task_type: str
    score: float  # how likely the premium tier answers better, 0..1
    confidence: float  # 0..1, how far the score is from a coin flip given the evidence
    signals: tuple[Signal, ...]
    decision_us: float
    strategy: str = "rules"


@dataclass(frozen=True, slots=True)
class TierEstimate:
    tier: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: price unknown, never shown as $0
    tokens_estimated: bool = True


@dataclass(frozen=True, slots=True)
class RouteDecision:
    tier: str
    tier_index: int
    model: str
    provider: str
    score: float
    threshold: float | None  # the boundary the score was compared with, if any
    task_type: str
    confidence: float
    rule: str  # machine id of the rule that fired: threshold, task_min, keyword, ...
    reason: str  # the same rule in words
    signals: tuple[Signal, ...]
    decision_us: float
    estimates: tuple[TierEstimate, ...] = ()
    blocked: bool = False
    forced: bool = False
    pinned: bool = False
    strategy: str = "rules"
    extra: dict[str, Any] = field(default_factory=dict)

    def estimate_for(self, tier: str) -> TierEstimate | None:
        return next((e for e in self.estimates if e.tier == tier), None)

    @property
    def est_cost_usd(self) -> float | None:
        est = self.estimate_for(self.tier)
        return est.cost_usd if est else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["signals"] = [s.render() for s in self.signals]
        d["est_cost_usd"] = self.est_cost_usd
        return d
