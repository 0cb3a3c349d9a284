"""What routing would do to a prompt log that was never sent: the one tally behind
``routedeck audit``'s text summary, its ``--json --summary`` object and its ``--html`` page.

Costs are projections: the router's fast token estimate and today's prices. A tier whose
price is unknown adds nothing to a total and is counted as unpriced instead, so a total is
"at least" that much and never quietly treats an unknown price as $0.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.routing.types import RouteDecision

TOP_PROMPTS = 10
PROMPT_PREVIEW_CHARS = 240
MAX_SERIES_POINTS = 240


@dataclass
class Projection:
    """What a set of prompts would cost: known part, and how many prompts had no price."""

    cost: float = 0.0
    unpriced: int = 0

    def add(self, cost: float | None) -> None:
        if cost is None:
            self.unpriced += 1
        else:
            self.cost += cost


@dataclass
class AuditTally:
    """Fed one routing decision per prompt, in file order; :meth:`to_dict` is the summary."""

    tiers: list[str]
    source: str = ""
    bad_rows: int = 0
    prompts: int = 0
    per_tier: Counter[str] = field(default_factory=Counter)
    per_task: Counter[str] = field(default_factory=Counter)
    routed: Projection = field(default_factory=Projection)
    always: dict[str, Projection] = field(default_factory=dict)
    _top: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    _cumulative: list[tuple[float, float, float]] = field(default_factory=list)
    _every: int = 1

    def __post_init__(self) -> None:
        self.always = {t: Projection() for t in self.tiers}

    def add(self, row_id: str, prompt: str, d: RouteDecision) -> None:
        self.prompts += 1
        self.per_tier[d.tier] += 1
        self.per_task[d.task_type] += 1
        self.routed.add(d.est_cost_usd)
        by_tier = {e.tier: e.cost_usd for e in d.estimates}
        for tier, cost in by_tier.items():
            self.always[tier].add(cost)
        self._remember_costly(row_id, prompt, d, by_tier)
        self._sample_cumulative()

    def _remember_costly(self, row_id: str, prompt: str, d: RouteDecision,
                         by_tier: dict[str, float | None]) -> None:
        premium = by_tier.get(self.tiers[-1])
        rank = premium if premium is not None else -1.0
        if len(self._top) >= TOP_PROMPTS and rank <= self._top[0][0]:
            return
        entry = {
            "id": row_id,
            "prompt": _preview(prompt),
            "prompt_chars": len(prompt),
            "tier": d.tier,
            "model": d.model,
            "task_type": d.task_type,
            "score": round(d.score, 4),
            "reason": d.reason,
            "routed_cost_usd": d.est_cost_usd,
            "premium_cost_usd": premium,
            "input_tokens": d.estimates[0].input_tokens if d.estimates else None,
        }
        # The counter breaks ties in file order and keeps dicts out of the comparison.
        item = (rank, -self.prompts, entry)
        if len(self._top) < TOP_PROMPTS:
            heapq.heappush(self._top, item)
        else:
            heapq.heapreplace(self._top, item)

    def _sample_cumulative(self) -> None:
        # Thin the curve as it grows (keep every 2nd point, then every 4th...), so memory
        # stays bounded on a log of any length; the final point is added by to_dict.
        if (self.prompts - 1) % self._every:
            return
        cheap, premium = self.tiers[0], self.tiers[-1]
        self._cumulative.append((self.routed.cost, self.always[premium].cost,
                                 self.always[cheap].cost))
        if len(self._cumulative) >= 2 * MAX_SERIES_POINTS:
            self._cumulative = self._cumulative[::2]
            self._every *= 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready summary, the same for the text, JSON and HTML outputs."""
        n = self.prompts
        cheap, premium = self.tiers[0], self.tiers[-1]
        top_cost = self.always[premium]
        savings = savings_pct = None
        if n and not top_cost.unpriced and not self.routed.unpriced and top_cost.cost > 0:
            savings = top_cost.cost - self.routed.cost
            savings_pct = 100 * savings / top_cost.cost
        series = [{"prompt": i * self._every + 1, "routed": r, "premium": p, "cheap": c}
                  for i, (r, p, c) in enumerate(self._cumulative)]
        if n and (not series or series[-1]["prompt"] != n):
            series.append({"prompt": n, "routed": self.routed.cost,
                           "premium": top_cost.cost, "cheap": self.always[cheap].cost})
        return {
            "source": self.source,
            "prompts": n,
            "bad_rows": self.bad_rows,
            "tiers": list(self.tiers),
            "cheapest_tier": cheap,
            "premium_tier": premium,
            "per_tier": [{"tier": t, "prompts": self.per_tier[t],
                          "share": self.per_tier[t] / n if n else None} for t in self.tiers],
            "per_task": [{"task_type": k, "prompts": c, "share": c / n}
                         for k, c in sorted(self.per_task.items(), key=lambda kv: (-kv[1], kv[0]))],
            "routed": _projection(self.routed),
            "always": {t: _projection(p) for t, p in self.always.items()},
            "savings_vs_premium_usd": savings,
            "savings_vs_premium_pct": savings_pct,
            "top_prompts": [e for _, _, e in sorted(self._top, key=lambda x: (-x[0], -x[1]))],
            "series": series,
        }


def _projection(p: Projection) -> dict[str, Any]:
    return {"cost_usd": p.cost, "unpriced": p.unpriced}


def _preview(prompt: str) -> str:
    flat = " ".join(prompt.split())
    if len(flat) <= PROMPT_PREVIEW_CHARS:
        return flat
    return flat[: PROMPT_PREVIEW_CHARS - 1].rstrip() + "…"
