"""Value types shared by the classifier, the router and every face of the app."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# (id, label shown to people). Order is the task classifier's class order: never reorder
# without retraining (the model files store the ids and are checked against this list).
TASKS: tuple[tuple[str, str], ...] = (
    ("greeting", "greeting/chit-chat"),
    ("factual", "factual lookup"),
    ("extraction", "extraction"),
    ("classification", "classification"),
    ("summarize", "summarisation"),
    ("translate", "translation"),
    ("rewrite", "rewrite/format"),
    ("code_write", "code write"),
    ("code_debug", "code debug/review"),
    ("calculation", "calculation"),
    ("proof", "proof/advanced maths"),
    ("logic", "logic puzzle"),
    ("analysis", "analysis/compare/plan"),
    ("expert", "expert review"),
    ("creative", "creative writing"),
)
TASK_TYPES: tuple[str, ...] = tuple(t for t, _ in TASKS)
TASK_LABELS: dict[str, str] = dict(TASKS)


@dataclass(frozen=True, slots=True)
class Signal:
    """One contribution to the score, in words a user understands."""

    label: str
    weight: float

    @property
    def weight_text(self) -> str:
        """The weight as shown: a context line (the task type, a demand that moved nothing)
        has no size to show, and "+0.00" would read as "this did not matter"."""
        return f"{self.weight:+.2f}" if round(self.weight, 2) else "    ·"

    def render(self) -> str:
        """For people (the panel, `route`'s text output)."""
        return f"{self.weight_text} {self.label}"

    def as_field(self) -> str:
        """For JSON output (route, audit, to_dict): always the signed weight, one format."""
        return f"{self.weight:+.2f} {self.label}"


# Classification and RouteDecision are records: the core builds each once per decision and
# nothing assigns to them afterwards (they cross into other threads inside events). They are
# not frozen only because a frozen dataclass sets every field through object.__setattr__,
# which for these two cost ~5 µs of the 100 µs routing budget (an A/B in one process: 5% of
# route()).
@dataclass(slots=True)
class Classification:
    task_type: str
    score: float  # how likely the premium tier answers better, 0..1
    confidence: float  # 0..1, how far the score is from a coin flip given the evidence
    signals: tuple[Signal, ...]
    decision_us: float
    strategy: str = "rules"
    task_label: str = ""  # the task type in words ("code debug/review")
    task_confidence: float = 0.0  # the task classifier's probability of that type
    demands: tuple[str, ...] = ()  # demand factor ids that fired (demands.DEMANDS)
    domain: str = ""  # legal / medical / financial when "expert_domain" fired
    follow_up: str = ""  # first words of the earlier prompt this one continues, if any
    memory_note: str = ""  # what the user's verdicts on similar prompts said, if anything
    memory_shift: float = 0.0  # how far they moved the score's logit
    form: str = "free"  # layout: choice / fewshot / numeric / free (features.form_of)
    task_example: str = ""  # the user's example prompt that decided the task type, if any
    task_probs: tuple[float, ...] = ()  # the task classifier's probability of each type
    everyday: str = ""  # travel / cooking / ... when the prompt is about personal, everyday life
    known_error: str = ""  # a beginner's error message the prompt quotes ("IndentationError")


@dataclass(frozen=True, slots=True)
class TierEstimate:
    tier: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: price unknown, never shown as $0
    tokens_estimated: bool = True


@dataclass(slots=True)  # a record: see the note above Classification
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
    # Added with the task policy; defaults keep older constructors working.
    model_score: float | None = None  # the classifier's own score before any policy raise
    task_label: str = ""
    demands: tuple[str, ...] = ()
    follow_up: str = ""  # first words of the earlier prompt this one continues
    memory_note: str = ""  # "you judged a similar prompt: premium was better"
    evidence: str = ""  # "like professional-law questions, where premium won 21 points more often than cheap"
    # The tier the score and the task policy chose, before keywords, stickiness, budget, pin
    # or force had their say ("" in decisions made before it was recorded).
    score_tier: str = ""

    def estimate_for(self, tier: str) -> TierEstimate | None:
        return next((e for e in self.estimates if e.tier == tier), None)

    @property
    def est_cost_usd(self) -> float | None:
        est = self.estimate_for(self.tier)
        return est.cost_usd if est else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["signals"] = [s.as_field() for s in self.signals]
        d["est_cost_usd"] = self.est_cost_usd
        return d


def digits_apart(threshold: float | None, *values: float | None) -> int:
    """Decimals (2 to 4) that keep each value on its own side of ``threshold`` once
    rounded: 0.1486 against 0.15 is "0.149 < 0.15", never "0.15 < 0.15"."""
    if threshold is None:
        return 2
    for n in (2, 3):
        t = round(threshold, n)
        if all(v is None or (round(v, n) >= t) == (v >= threshold) for v in values):
            return n
    return 4
