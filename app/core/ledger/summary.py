"""The figures of one savings report, built once for every face that shows them.

``routedeck report --json`` prints :meth:`ReportData.to_dict` and ``report --html`` renders
that same dict, so the page and the JSON cannot disagree. Everything here is read through
:class:`~app.core.ledger.reader.Ledger` and the store's public ``query`` with
``request_filter``, the same way the Ledger reads, so it runs wherever the Ledger runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.config.settings import tier_level
from app.core.ledger.pricing import price_for, snapshot_label
from app.core.ledger.reader import Ledger, Satisfaction, SeriesPoint, Totals
from app.core.ledger.store import request_filter

if TYPE_CHECKING:
    from app.core.config.settings import Settings
    from app.core.ledger.store import Store

# A chart is a few hundred pixels wide: more points than this add bytes, not detail.
MAX_SERIES_POINTS = 240


@dataclass
class TaskShare:
    """Turns of one task type (as classified at routing time) and what they cost."""

    task_type: str
    turns: int = 0
    calls: int = 0
    spent: float = 0.0  # priced calls only
    unpriced: int = 0


@dataclass
class PriceSeen:
    """A price the ledger recorded at call time, with when it was in force."""

    model: str
    source: str | None  # None: the call had no known price
    input_per_mtok: float | None
    output_per_mtok: float | None
    calls: int = 0
    first_at: float | None = None
    last_at: float | None = None


@dataclass
class ReportData:
    totals: Totals
    satisfaction: dict[str, Satisfaction]
    by_task: list[TaskShare]
    prices_seen: list[PriceSeen]
    policy: dict[str, Any]
    series: list[SeriesPoint] = field(default_factory=list)
    generated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; the existing ``report --json`` keys keep their meaning."""
        data = self.totals.to_dict()
        data.pop("series")
        data["satisfaction"] = {
            m: {"verdicts": s.verdicts, "cheap_enough": s.cheap_enough, "tie": s.tie,
                "premium_better": s.premium_better, "satisfied": s.satisfied, "rate": s.rate}
            for m, s in self.satisfaction.items()}
        data["by_task"] = [asdict(t) for t in self.by_task]
        data["series"] = [{"at": p.at, "actual": p.actual, "premium": p.premium}
                          for p in self.series]
        data["prices_seen"] = [asdict(p) for p in self.prices_seen]
        data["policy"] = self.policy
        data["generated_at"] = self.generated_at
        return data


def build_report(
    store: Store,
    settings: Settings,
    session_id: int | None = None,
    since: float | None = None,
    until: float | None = None,
    now: float | None = None,
) -> ReportData:
    """Totals, series, task shares, prices seen, satisfaction and the policy in force."""
    ledger = Ledger(store, [t.name for t in settings.tiers])
    totals = ledger.totals(session_id=session_id, since=since, until=until, series=True)
    series = downsample(totals.series, MAX_SERIES_POINTS)
    totals.series = []
    where, params = request_filter(session_id, since, until)
    return ReportData(
        totals=totals,
        satisfaction=satisfaction_between(ledger, session_id, since, until),
        by_task=_by_task(store, where, params),
        prices_seen=_prices_seen(store, where, params),
        policy=policy_in_force(settings),
        series=series,
        generated_at=time.time() if now is None else now,
    )


def satisfaction_between(
    ledger: Ledger, session_id: int | None, since: float | None, until: float | None
) -> dict[str, Satisfaction]:
    """Verdicts given from ``since`` up to (not including) ``until``.

    The ledger counts verdicts from a start time on; those from ``until`` on are subtracted,
    which keeps the ledger the only place that knows how a verdict is counted.
    """
    upto = ledger.satisfaction(session_id=session_id, since=since)
    if until is None:
        return upto
    later = ledger.satisfaction(session_id=session_id, since=until)
    out: dict[str, Satisfaction] = {}
    for model, s in upto.items():
        minus = later.get(model)
        if minus is not None:
            s = Satisfaction(model, s.verdicts - minus.verdicts,
                             s.cheap_enough - minus.cheap_enough, s.tie - minus.tie,
                             s.premium_better - minus.premium_better)
        if s.verdicts:
            out[model] = s
    return out


def downsample(points: list[SeriesPoint], limit: int) -> list[SeriesPoint]:
    """At most ``limit`` points, evenly spread, always keeping the first and the last (the
    totals a cumulative chart ends on must be the real ones)."""
    if len(points) <= limit or limit < 2:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


# Plain SQL the way Ledger's own queries reach the store (store.query + request_filter):
# CASE WHEN instead of summed booleans and no bare columns, so any SQL backend the ledger
# runs on takes it. A turn's attempts share one classification (retries, fallbacks and
# escalations re-send the same prompt), so distinct turns per task type are turns.
_BY_TASK = """
    SELECT COALESCE(NULLIF(task_type, ''), 'unclassified') AS task, COUNT(*) AS calls,
           COUNT(DISTINCT COALESCE(CAST(session_id AS TEXT), '') || ':' || turn_id) AS turns,
           COALESCE(SUM(cost_usd), 0) AS spent,
           SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced
    FROM requests WHERE {where} GROUP BY COALESCE(NULLIF(task_type, ''), 'unclassified')"""

_PRICES = """
    SELECT model, price_source, price_input_per_mtok, price_output_per_mtok,
           COUNT(*) AS calls, MIN(started_at) AS first_at, MAX(started_at) AS last_at
    FROM requests WHERE {where}
    GROUP BY model, price_source, price_input_per_mtok, price_output_per_mtok"""


def _by_task(store: Store, where: str, params: list[Any]) -> list[TaskShare]:
    rows = store.query(_BY_TASK.format(where=where), params)
    shares = [TaskShare(r["task"], r["turns"], r["calls"], float(r["spent"] or 0.0),
                        r["unpriced"] or 0) for r in rows]
    return sorted(shares, key=lambda t: (-t.turns, t.task_type))


def _prices_seen(store: Store, where: str, params: list[Any]) -> list[PriceSeen]:
    rows = store.query(_PRICES.format(where=where), params)
    seen = [PriceSeen(r["model"], r["price_source"], r["price_input_per_mtok"],
                      r["price_output_per_mtok"], r["calls"], r["first_at"], r["last_at"])
            for r in rows]
    return sorted(seen, key=lambda p: (p.model, p.first_at or 0.0))


def policy_in_force(settings: Settings) -> dict[str, Any]:
    """The routing policy and prices the current config applies (not necessarily those of
    past calls: :class:`PriceSeen` tells what each call was priced at)."""
    r = settings.router
    names = [t.name for t in settings.tiers]
    tiers = []
    for tier in settings.tiers:
        price = price_for(tier, settings.provider_for(tier))
        tiers.append({
            "name": tier.name, "model": tier.model, "provider": tier.provider,
            "input_per_mtok": price.input_per_mtok if price else None,
            "output_per_mtok": price.output_per_mtok if price else None,
            "price_source": price.source if price else None,
        })
    return {
        "strategy": r.strategy,
        "tiers": tiers,
        "thresholds": list(r.thresholds),
        "low_confidence_margin": r.low_confidence_margin,
        # The minimums in force (built-in defaults and the file's keys), as tier names, for
        # the task types kept above the cheapest tier; and the demand factors that lift.
        "task_min_tier": {task: names[level] for task, level in (
            (t, tier_level(v, names) or 0) for t, v in r.task_levels().items()) if level > 0},
        "demand_lift": {d: n for d, n in r.lifts().items() if n > 0},
        "escalate_keywords": list(r.escalate_keywords),
        "deescalate_keywords": list(r.deescalate_keywords),
        "cascade": {"enabled": settings.cascade.enabled,
                    "min_mean_logprob": settings.cascade.min_mean_logprob},
        "expected_output_tokens": r.expected_output_tokens,
        "fallback_model": settings.engine.fallback_model,
        "budget": {"session_usd": settings.budget.session_usd,
                   "daily_usd": settings.budget.daily_usd,
                   "action": settings.budget.action},
        "price_snapshot": snapshot_label(),
    }
