"""Routing quality on labelled outcomes, with the RouteLLM definitions (APGR, CPT, cost at a
quality target; README "How routing decides" shows them in use).

A router is judged by the curve it traces when the top-k scored prompts go to the premium tier,
k = 0..n. Prompts with equal router scores move together: a tie block is one step of the curve
and the curve is a straight line across it (which is also the expectation over tie orders).

Costs per row, best source first:
1. ``cheap_cost_usd`` / ``premium_cost_usd`` (real per-call costs, RouterBench rows);
2. list prices ``*_price_per_mtok_in|out`` with input tokens estimated as chars / 4 and output
   tokens as ``*_output_chars`` / 4 when known, else ``DEFAULT_OUTPUT_TOKENS``;
3. a uniform assumption: a cheap call costs 0 and a premium call costs 1, so the cost figure
   becomes the share of calls sent to premium.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CHARS_PER_TOKEN = 4.0
DEFAULT_OUTPUT_TOKENS = 350  # same as the router's default expected_output_tokens
QUALITY_TARGET = 0.98
ILL_CONDITIONED_GAP = 0.03
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled prompt: how well each tier answered it and what each call costs."""

    cheap: float
    premium: float
    cheap_cost: float = 0.0
    premium_cost: float = 1.0
    group: str = ""

    @property
    def gain(self) -> float:
        return self.premium - self.cheap


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def row_costs(data: Mapping[str, Any], prompt: str) -> tuple[float, float, str]:
    """(cheap cost, premium cost, how they were obtained) for one data row."""
    cc, pc = _num(data.get("cheap_cost_usd")), _num(data.get("premium_cost_usd"))
    if cc is not None and pc is not None:
        return cc, pc, "per-call cost"
    in_tokens = len(prompt) / CHARS_PER_TOKEN
    out: list[float] = []
    for tier in ("cheap", "premium"):
        p_in = _num(data.get(f"{tier}_price_per_mtok_in"))
        p_out = _num(data.get(f"{tier}_price_per_mtok_out"))
        if p_in is None or p_out is None:
            return 0.0, 1.0, "uniform"
        chars = _num(data.get(f"{tier}_output_chars"))
        out_tokens = chars / CHARS_PER_TOKEN if chars is not None else DEFAULT_OUTPUT_TOKENS
        out.append((in_tokens * p_in + out_tokens * p_out) / 1e6)
    return out[0], out[1], "list prices"


def outcome_from_row(data: Mapping[str, Any], prompt: str) -> Outcome | None:
    """An Outcome, or None when the row has no usable cheap/premium scores."""
    cheap, premium = _num(data.get("cheap_score")), _num(data.get("premium_score"))
    if cheap is None or premium is None:
        return None
    cc, pc, _ = row_costs(data, prompt)
    source, dataset = data.get("source"), data.get("dataset")
    # Rows that say neither (a user's own outcomes file) are one group under a plain name.
    group = f"{source or 'unnamed'}/{dataset or 'unnamed'}" if source or dataset else \
        "rows without source/dataset"
    return Outcome(cheap, premium, cc, pc, group)


@dataclass(frozen=True)
class Curve:
    """Operating points of a router: premium-call fraction, mean quality, total cost."""

    fractions: tuple[float, ...]
    quality: tuple[float, ...]
    cost: tuple[float, ...]
    r_cheap: float
    r_premium: float
    cost_premium: float
    n: int = 0

    @property
    def degenerate(self) -> bool:
        return abs(self.r_premium - self.r_cheap) < _EPS

    @property
    def pgr(self) -> tuple[float, ...] | None:
        if self.degenerate:
            return None
        span = self.r_premium - self.r_cheap
        return tuple((q - self.r_cheap) / span for q in self.quality)


def curve(outcomes: Sequence[Outcome], scores: Sequence[float]) -> Curve:
    """The call-performance curve of a router that sends high scores to premium first."""
    n = len(outcomes)
    if n == 0:
        raise ValueError("no labelled rows")
    if len(scores) != n:
        raise ValueError("one router score per row is needed")
    order = sorted(range(n), key=lambda i: -scores[i])
    q = sum(o.cheap for o in outcomes)
    c = sum(o.cheap_cost for o in outcomes)
    fractions, quality, cost = [0.0], [q / n], [c]
    i = 0
    while i < n:
        j = i
        block_score = scores[order[i]]
        while j < n and scores[order[j]] == block_score:
            o = outcomes[order[j]]
            q += o.gain
            c += o.premium_cost - o.cheap_cost
            j += 1
        fractions.append(j / n)
        quality.append(q / n)
        cost.append(c)
        i = j
    r_premium = sum(o.premium for o in outcomes) / n
    cost_premium = sum(o.premium_cost for o in outcomes)
    return Curve(tuple(fractions), tuple(quality), tuple(cost), quality[0], r_premium,
                 cost_premium, n)


def apgr(cv: Curve) -> float | None:
    """Area under PGR over the premium-call fraction 0..1 (trapezoid rule)."""
    pgr = cv.pgr
    if pgr is None:
        return None
    f = cv.fractions
    return sum((f[i + 1] - f[i]) * (pgr[i] + pgr[i + 1]) / 2 for i in range(len(f) - 1))


def cpt(cv: Curve, x: float) -> float | None:
    """Smallest premium-call fraction reaching PGR >= x, linear between points; None if never."""
    pgr = cv.pgr
    if pgr is None:
        return None
    f = cv.fractions
    if pgr[0] >= x:
        return f[0]
    for i in range(len(f) - 1):
        p0, p1 = pgr[i], pgr[i + 1]
        if p0 < x <= p1:
            return f[i] + (x - p0) / (p1 - p0) * (f[i + 1] - f[i])
    return None


def cost_at_quality(cv: Curve, target: float = QUALITY_TARGET) -> float | None:
    """Cost of the cheapest operating point with quality >= target x premium-only quality,
    as a fraction of premium-only cost. Operating points are whole numbers of prompts; inside
    a tie block (whose members are interchangeable) the expected quality and cost lie on the
    straight line, so sending only part of a block up is an operating point too."""
    if cv.cost_premium <= 0:
        return None
    bar = target * cv.r_premium - 1e-12
    best: float | None = None
    q, c = cv.quality, cv.cost
    for i in range(len(q)):
        if q[i] >= bar and (best is None or c[i] < best):
            best = c[i]
        if i + 1 < len(q) and q[i] < bar <= q[i + 1]:
            size = round((cv.fractions[i + 1] - cv.fractions[i]) * cv.n) or 1
            t = math.ceil((bar - q[i]) / (q[i + 1] - q[i]) * size - 1e-9) / size
            mid = c[i] + t * (c[i + 1] - c[i])
            if best is None or mid < best:
                best = mid
    return None if best is None else best / cv.cost_premium


@dataclass(frozen=True)
class Metrics:
    n: int
    apgr: float | None
    cpt50: float | None
    cpt80: float | None
    cost98: float | None
    premium_calls: float | None = None  # fixed routers: the share of calls they send up
    notes: tuple[str, ...] = field(default_factory=tuple)
    r_cheap: float | None = None
    r_premium: float | None = None

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        d: dict[str, Any] = {"n": self.n, "apgr": r(self.apgr), "cpt50": r(self.cpt50),
                             "cpt80": r(self.cpt80), "cost98": r(self.cost98)}
        if self.premium_calls is not None:
            d["premium_calls"] = r(self.premium_calls)
        if self.r_cheap is not None:
            d["quality_cheap"], d["quality_premium"] = r(self.r_cheap), r(self.r_premium)
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def router_metrics(outcomes: Sequence[Outcome], scores: Sequence[float]) -> Metrics:
    cv = curve(outcomes, scores)
    notes: tuple[str, ...] = ()
    if cv.degenerate:
        notes = ("premium-only and cheap-only quality are equal: PGR undefined",)
    elif abs(cv.r_premium - cv.r_cheap) < ILL_CONDITIONED_GAP:
        notes = (f"premium-only quality {cv.r_premium:.3f} vs cheap-only {cv.r_cheap:.3f}: "
                 "the gap is tiny, so APGR/CPT are ill-conditioned here",)
    return Metrics(len(outcomes), apgr(cv), cpt(cv, 0.5), cpt(cv, 0.8), cost_at_quality(cv),
                   notes=notes, r_cheap=cv.r_cheap, r_premium=cv.r_premium)


def random_metrics(outcomes: Sequence[Outcome]) -> Metrics:
    """A random router in expectation: PGR is the straight line from (0, 0) to (1, 1)."""
    cv = curve(outcomes, [0.0] * len(outcomes))  # one tie block: exactly the expected line
    if cv.degenerate:
        return Metrics(len(outcomes), None, None, None, cost_at_quality(cv))
    return Metrics(len(outcomes), 0.5, 0.5, 0.8, cost_at_quality(cv))


def fixed_metrics(outcomes: Sequence[Outcome], premium: bool) -> Metrics:
    """Always-cheap / always-premium: one operating point, so no curve, APGR or CPT."""
    n = len(outcomes)
    cv = curve(outcomes, [0.0] * n)
    idx = -1 if premium else 0
    q, c = cv.quality[idx], cv.cost[idx]
    ok = q >= QUALITY_TARGET * cv.r_premium - 1e-12
    cost98 = c / cv.cost_premium if ok and cv.cost_premium > 0 else None
    return Metrics(n, None, None, None, cost98, premium_calls=1.0 if premium else 0.0)


def oracle_metrics(outcomes: Sequence[Outcome]) -> Metrics:
    """Knows every outcome: premium first where it gains most, and cheaper premium calls first
    among equal gains."""
    scores = [o.gain - 1e-9 * (o.premium_cost - o.cheap_cost) for o in outcomes]
    return router_metrics(outcomes, scores)


BASELINES = ("random", "always-cheap", "always-premium", "oracle")


def compare(outcomes: Sequence[Outcome], scores: Sequence[float]) -> dict[str, Metrics]:
    """The router next to the four baselines, on one set of rows."""
    return {
        "router": router_metrics(outcomes, scores),
        "random": random_metrics(outcomes),
        "always-cheap": fixed_metrics(outcomes, premium=False),
        "always-premium": fixed_metrics(outcomes, premium=True),
        "oracle": oracle_metrics(outcomes),
    }


def by_group(
    outcomes: Sequence[Outcome], scores: Sequence[float]
) -> dict[str, dict[str, Metrics]]:
    """``compare`` per source/dataset group, then per source pooled over its datasets (for
    sources with several; named "<source>/*"), then ``overall`` (all rows pooled)."""
    groups: dict[str, list[int]] = {}
    sources: dict[str, list[int]] = {}
    for i, o in enumerate(outcomes):
        groups.setdefault(o.group, []).append(i)
        sources.setdefault(o.group.split("/", 1)[0], []).append(i)
    out = {}
    for g in sorted(groups):
        idx = groups[g]
        out[g] = compare([outcomes[i] for i in idx], [scores[i] for i in idx])
    for src in sorted(sources):
        idx = sources[src]
        if sum(1 for g in groups if g.split("/", 1)[0] == src) > 1:
            out[f"{src}/*"] = compare([outcomes[i] for i in idx], [scores[i] for i in idx])
    out["overall"] = compare(outcomes, scores)
    return out
