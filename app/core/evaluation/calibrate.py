"""Pick the premium threshold that meets a target on labelled outcomes.

Targets (exactly one):
- ``premium_share``: at most this fraction of prompts go to the top tier;
- ``quality``: the served quality reaches this fraction of premium-only quality, as cheaply
  as possible;
- ``budget``: spend at most this fraction of what always-premium would cost, with the best
  quality that allows.

The router sends a prompt to the top tier when its score >= the last threshold, so every
candidate operating point is "all prompts scoring at least s", for s among the label scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.evaluation.metrics import Outcome

# Fewer labels than this and a threshold fitted on them is mostly noise.
MIN_LABELS = 30


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    premium_share: float
    quality: float  # mean served score
    quality_share: float | None  # quality / premium-only quality
    pgr: float | None
    cost_share: float | None  # cost / premium-only cost

    def to_dict(self) -> dict[str, float | None]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def operating_point(outcomes: Sequence[Outcome], scores: Sequence[float], threshold: float) -> OperatingPoint:
    n = len(outcomes)
    if n == 0:
        raise ValueError("no labelled rows")
    up = [s >= threshold for s in scores]
    quality = sum(o.premium if u else o.cheap for o, u in zip(outcomes, up, strict=True)) / n
    r_cheap = sum(o.cheap for o in outcomes) / n
    r_premium = sum(o.premium for o in outcomes) / n
    cost = sum(o.premium_cost if u else o.cheap_cost for o, u in zip(outcomes, up, strict=True))
    cost_premium = sum(o.premium_cost for o in outcomes)
    span = r_premium - r_cheap
    return OperatingPoint(
        threshold=threshold,
        premium_share=sum(up) / n,
        quality=quality,
        quality_share=quality / r_premium if r_premium > 0 else None,
        pgr=(quality - r_cheap) / span if abs(span) > 1e-12 else None,
        cost_share=cost / cost_premium if cost_premium > 0 else None,
    )


def _candidates(scores: Sequence[float]) -> list[float]:
    """Thresholds from "nobody goes up" to "everyone goes up", one per distinct score."""
    distinct = sorted(set(scores), reverse=True)
    above_all = min(1.0, distinct[0] + 1e-6) if distinct[0] < 1.0 else 1.0 + 1e-9
    return [above_all, *distinct]


def calibrate(
    outcomes: Sequence[Outcome],
    scores: Sequence[float],
    *,
    premium_share: float | None = None,
    quality: float | None = None,
    budget: float | None = None,
) -> OperatingPoint:
    """The operating point that meets the one target given (see module doc)."""
    chosen = [t for t in (premium_share, quality, budget) if t is not None]
    if len(chosen) != 1:
        raise ValueError("give exactly one target: premium share, quality or budget")
    if not 0.0 <= chosen[0] <= 1.0:
        raise ValueError("targets are fractions between 0 and 1")
    points = [operating_point(outcomes, scores, t) for t in _candidates(scores)]
    if premium_share is not None:
        ok = [p for p in points if p.premium_share <= premium_share + 1e-12]
        # Most premium calls allowed: the share is a ceiling, not a goal to undershoot.
        return max(ok, key=lambda p: (p.premium_share, p.quality))
    if quality is not None:
        ok = [p for p in points if p.quality_share is not None and p.quality_share >= quality - 1e-12]
        if not ok:
            return points[-1]
        return min(ok, key=lambda p: (p.cost_share if p.cost_share is not None else p.premium_share,
                                      p.premium_share))
    ok = [p for p in points if p.cost_share is not None and p.cost_share <= budget + 1e-12]
    if not ok:
        return points[0]
    return max(ok, key=lambda p: (p.quality, -p.premium_share))


def new_thresholds(current: Sequence[float], top: float) -> list[float]:
    """Replace the last (premium) threshold, keeping lower ones below it and in order."""
    top = max(0.0, min(1.0, top))
    lower = [min(t, top) for t in current[:-1]]
    return [*lower, top]
