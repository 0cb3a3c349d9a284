"""The ledger's read side: totals, rates, satisfaction and budget figures, all folded in SQL
from the stored attempt rows (whose costs :mod:`app.core.ledger.costs` computed once, at record
time). Every face reads the ledger through :class:`Ledger`; nothing keeps a parallel tally.

Savings count the premium counterfactual once per turn (from the turn's last attempt), while
the actual cost of a turn is the sum of all its attempts, including failed ones that still
cost money.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any

from app.core.ledger.money import money_text
from app.core.ledger.records import BudgetState
from app.core.ledger.store import request_filter

if TYPE_CHECKING:
    from app.core.ledger.store import Store


# --- totals ---------------------------------------------------------------------------------


@dataclass
class Bucket:
    """Attempts grouped by tier or model."""

    key: str
    calls: int = 0
    ok: int = 0
    errors: int = 0
    spent: float = 0.0  # priced calls only
    unpriced: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: int = 0  # calls whose usage is a tiktoken estimate
    cache_hits: int = 0
    mean_latency_s: float | None = None

    @property
    def spent_text(self) -> str:
        return money_text(self.spent, self.unpriced)


@dataclass
class Group(Bucket):
    """One row of ``report --by``: the attempts of one user, host, tier, model or task, and
    the turns it answered (a turn belongs to the group of its last attempt) with their
    all-premium counterfactual and savings, over fully priced turns as in :class:`Totals`."""

    turns: int = 0
    premium: float = 0.0
    premium_unpriced: int = 0
    priced_turns: int = 0
    savings: float | None = None
    savings_pct: float | None = None
    fallbacks: int = 0
    escalations: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spent_text": self.spent_text}


@dataclass(frozen=True)
class SeriesPoint:
    turn_id: str
    at: float
    actual: float  # cumulative actual spend up to and including this turn
    premium: float  # cumulative all-premium counterfactual


@dataclass
class Totals:
    """Everything the ledger panel and ``routedeck report`` show.

    Savings are computed over *priced turns* only (every attempt and the counterfactual
    priced), so an unknown price can neither inflate nor hide a saving.
    """

    turns: int = 0
    calls: int = 0
    spent: float = 0.0  # sum over priced calls
    unpriced: int = 0  # calls with no known price (not counted as $0)
    premium: float = 0.0  # all-premium counterfactual over turns where it is known
    premium_unpriced: int = 0  # turns whose counterfactual is unknown
    priced_turns: int = 0
    savings: float | None = None  # counterfactual - actual, over priced turns
    savings_pct: float | None = None  # savings / counterfactual, 0..100
    # The part of the savings from turns answered by the cache, not by routing: a demo
    # rehearsed once would otherwise show "saved 100%" for routing it never did.
    cache_savings: float | None = None
    fallbacks: int = 0  # turns that fell back to another tier/model
    escalations: int = 0  # turns escalated (cascade or user)
    cache_hits: int = 0  # turns answered from the cache ($0)
    errors: int = 0  # calls that failed (they may still have cost money)
    cancelled: int = 0
    truncated: int = 0
    estimated: int = 0  # calls whose usage is estimated, not provider-reported
    first_at: float | None = None
    last_at: float | None = None
    by_tier: dict[str, Bucket] = field(default_factory=dict)
    by_model: dict[str, Bucket] = field(default_factory=dict)
    # Each (tier, model) pair on its own: two tiers may share a model name.
    by_tier_model: dict[tuple[str, str], Bucket] = field(default_factory=dict, repr=False)
    series: list[SeriesPoint] = field(default_factory=list)

    @property
    def spent_text(self) -> str:
        return money_text(self.spent, self.unpriced)

    def _rate(self, n: int) -> float | None:
        return n / self.turns if self.turns else None

    @property
    def fallback_rate(self) -> float | None:
        return self._rate(self.fallbacks)

    @property
    def escalation_rate(self) -> float | None:
        return self._rate(self.escalations)

    @property
    def cache_hit_rate(self) -> float | None:
        return self._rate(self.cache_hits)

    def tier_calls(self) -> dict[str, int]:
        return {k: b.calls for k, b in self.by_tier.items()}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["by_tier_model"] = [{"tier": tier, "model": model, **asdict(b),
                               "spent_text": b.spent_text}
                              for (tier, model), b in self.by_tier_model.items()]
        d.update(
            spent_text=self.spent_text,
            fallback_rate=self.fallback_rate,
            escalation_rate=self.escalation_rate,
            cache_hit_rate=self.cache_hit_rate,
        )
        for group in ("by_tier", "by_model"):
            for key, bucket in getattr(self, group).items():
                d[group][key]["spent_text"] = bucket.spent_text
        return d


@dataclass(frozen=True)
class Satisfaction:
    """Verdicts on one model's answers: satisfied = cheap_enough or tie."""

    model: str
    verdicts: int
    cheap_enough: int
    tie: int
    premium_better: int

    @property
    def satisfied(self) -> int:
        return self.cheap_enough + self.tie

    @property
    def rate(self) -> float | None:
        return self.satisfied / self.verdicts if self.verdicts else None


@dataclass(frozen=True)
class RecentRates:
    """Fallbacks and escalations over a session's last turns (misrouting alarm)."""

    turns: int
    fallbacks: int
    escalations: int
    troubled: int  # turns with a fallback or an escalation (or both)

    @property
    def rate(self) -> float:
        return self.troubled / self.turns if self.turns else 0.0


def _count(condition: str) -> str:
    """How many rows meet ``condition``: portable (PostgreSQL cannot SUM a boolean), and no
    slower than SQLite's SUM(condition)."""
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


# One row per turn: the turn's attempts folded, and the counterfactual (and start time) of
# its last attempt, which stands for the turn so it is counted once. Most turns have one
# attempt, whose values the aggregate already holds (MAX over one row); only turns with
# several are joined back to their last attempt (through the requests_turn index), so the
# query stays portable (no bare columns) at close to one scan's cost. (session_id, turn_id,
# attempt) names one row: the engine numbers a turn's attempts and turn ids are random
# UUIDs. {key} is a column of the last attempt (the tier, model, user... that answered), or
# '' when no breakdown is asked for.
_TURNS = """
    WITH g AS (
        SELECT session_id, turn_id, MAX(attempt) AS last_attempt, COUNT(*) AS n,
               MAX(premium_cost_usd) AS cf1, MAX(started_at) AS at1, MAX({key}) AS key1,
               SUM(COALESCE(cost_usd, 0)) AS actual,
               COUNT(*) - COUNT(cost_usd) AS unpriced,
               MAX(CASE WHEN fallback_from IS NOT NULL THEN 1 ELSE 0 END) AS fell_back,
               MAX(escalated) AS escalated,
               MAX(cache_hit) AS cache_hit
        FROM requests WHERE {where} GROUP BY session_id, turn_id),
    t AS (
        SELECT g.session_id, g.turn_id, g.last_attempt, g.actual, g.unpriced, g.fell_back,
               g.escalated, g.cache_hit,
               CASE WHEN g.n = 1 THEN g.at1 ELSE r.started_at END AS started_at,
               CASE WHEN g.n = 1 THEN g.cf1 ELSE r.premium_cost_usd END AS cf,
               CASE WHEN g.n = 1 THEN g.key1 ELSE r.{key} END AS key
        FROM g LEFT JOIN requests r ON g.n > 1 AND r.turn_id = g.turn_id
            AND r.attempt = g.last_attempt
            AND (r.session_id = g.session_id
                 OR (r.session_id IS NULL AND g.session_id IS NULL)))"""

_PRICED = "unpriced = 0 AND cf IS NOT NULL"
_TURN_SUMS = f"""COUNT(*) AS turns,
           COALESCE(SUM(cf), 0) AS premium,
           COUNT(*) - COUNT(cf) AS premium_unpriced,
           {_count(_PRICED)} AS priced_turns,
           SUM(CASE WHEN {_PRICED} THEN cf END) AS priced_cf,
           SUM(CASE WHEN {_PRICED} THEN actual END) AS priced_actual,
           SUM(fell_back) AS fallbacks, SUM(escalated) AS escalations,
           SUM(cache_hit) AS cache_hits,
           SUM(CASE WHEN {_PRICED} AND cache_hit = 1 THEN cf - actual END) AS cache_saved"""

_NO_KEY = "tier"  # any column: the summary ignores the key
_SUMMARY = f"{_TURNS} SELECT {_TURN_SUMS} FROM t"
_TURNS_BY = f"{_TURNS} SELECT key, {_TURN_SUMS} FROM t GROUP BY key"

# One scan grouped by {group}: the per-tier and per-model tables are both folded from the
# few (tier, model) rows in Python, which halves the work over a large table.
_BUCKETS = f"""
    SELECT {{select}}, COUNT(*) AS calls,
           {_count("status = 'ok'")} AS ok, {_count("status = 'error'")} AS errors,
           {_count("status = 'cancelled'")} AS cancelled,
           {_count("status = 'truncated'")} AS truncated,
           COALESCE(SUM(cost_usd), 0) AS spent, COUNT(*) - COUNT(cost_usd) AS unpriced,
           SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
           SUM(cached_input_tokens) AS cached_input_tokens,
           SUM(reasoning_tokens) AS reasoning_tokens,
           {_count("usage_source <> 'provider' AND cache_hit = 0")} AS estimated, SUM(cache_hit) AS cache_hits,
           SUM(latency_s) AS latency_sum, COUNT(latency_s) AS latency_n,
           MIN(started_at) AS first_at, MAX(started_at) AS last_at
    FROM requests WHERE {{where}} GROUP BY {{group}}"""

# report --by NAME -> the requests column it groups by.
DIMENSIONS = {"user": "user_name", "host": "host_name", "tier": "tier", "model": "model",
              "task": "task_type"}

_SUMMED = ("calls", "ok", "errors", "spent", "unpriced", "input_tokens", "output_tokens",
           "cached_input_tokens", "reasoning_tokens", "estimated", "cache_hits")


def _fold(buckets: dict[str, Any], latency: dict[str, list[float]], key: str,
          row: Any, kind: type[Bucket] = Bucket) -> None:
    b = buckets.setdefault(key, kind(key))
    for name in _SUMMED:
        setattr(b, name, getattr(b, name) + row[name])
    lat = latency.setdefault(key, [0.0, 0])
    lat[0] += row["latency_sum"] or 0.0
    lat[1] += row["latency_n"]
    b.mean_latency_s = lat[0] / lat[1] if lat[1] else None


_TURN_FIELDS = ("turns", "premium", "premium_unpriced", "priced_turns", "priced_cf",
                "priced_actual", "fallbacks", "escalations", "cache_hits", "cache_saved")


def _column(by: str) -> str:
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    return DIMENSIONS[by]


def _turn_figures(t: Totals, s: Any) -> None:
    """Turn counts, counterfactual and savings from one row of _TURN_SUMS (or their sums)."""
    t.turns = s["turns"]
    t.premium = s["premium"]
    t.premium_unpriced = s["premium_unpriced"] or 0
    t.priced_turns = s["priced_turns"] or 0
    t.fallbacks, t.escalations, t.cache_hits = (
        s["fallbacks"] or 0, s["escalations"] or 0, s["cache_hits"] or 0)
    if t.priced_turns:
        t.savings = s["priced_cf"] - s["priced_actual"]
        t.savings_pct = 100 * t.savings / s["priced_cf"] if s["priced_cf"] else None
        t.cache_savings = s["cache_saved"] or 0.0


def _group_turns(groups: dict[str, Group], rows: list[Any]) -> None:
    for row in rows:
        key = row["key"] or ""
        g = groups.setdefault(key, Group(key))
        g.turns, g.premium = row["turns"], row["premium"]
        g.premium_unpriced = row["premium_unpriced"] or 0
        g.priced_turns = row["priced_turns"] or 0
        g.fallbacks, g.escalations = row["fallbacks"] or 0, row["escalations"] or 0
        if g.priced_turns:
            g.savings = row["priced_cf"] - row["priced_actual"]
            g.savings_pct = 100 * g.savings / row["priced_cf"] if row["priced_cf"] else None


class Ledger:
    """Read-side of the store: totals, rates, satisfaction and budget numbers."""

    def __init__(self, store: Store, tier_order: Sequence[str] = ()):
        self.store = store
        # Per-tier tables list the configured tiers cheapest first, then any others by name
        # (a ledger outlives its config: a tier may since have been renamed or removed).
        self.tier_order = tuple(tier_order)

    def _tier_key(self, item: tuple[str, Any]) -> tuple[int, str]:
        order = self.tier_order
        return (order.index(item[0]) if item[0] in order else len(order), item[0])

    def totals(
        self,
        session_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        series: bool = False,
    ) -> Totals:
        """Totals for a session (or all-time), optionally from ``since`` to ``until``.

        ``series=True`` adds the cumulative actual vs all-premium spend per turn (for a
        chart; a turn with an unknown counterfactual adds its actual cost to both lines).
        """
        where, params = request_filter(session_id, since, until)
        t, _rows = self._attempts(where, params)
        if not t.calls:
            return t
        s = self.store.query(_SUMMARY.format(where=where, key=_NO_KEY), params)[0]
        _turn_figures(t, s)
        if series:
            t.series = self._series(where, params)
        return t

    def report(
        self,
        by: str,
        session_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[Totals, dict[str, Group]]:
        """:meth:`totals` and :meth:`breakdown` together, in fewer passes over the rows than
        asking for both: the turn summary is the sum of the groups' turn figures, and a
        tier or model breakdown folds from the same scan as the totals."""
        column = _column(by)
        where, params = request_filter(session_id, since, until)
        t, rows = self._attempts(where, params)
        if not t.calls:
            return t, {}
        groups: dict[str, Group] = {}
        latency: dict[str, list[float]] = {}
        if by in ("tier", "model"):
            for row in rows:
                _fold(groups, latency, row[by], row, Group)
        else:
            groups = self._group_attempts(column, where, params)
        turn_rows = self.store.query(_TURNS_BY.format(where=where, key=column), params)
        _group_turns(groups, turn_rows)
        sums = {name: sum(r[name] or 0 for r in turn_rows) for name in _TURN_FIELDS}
        _turn_figures(t, sums)
        return t, dict(sorted(groups.items()))

    def _attempts(self, where: str, params: list[Any]) -> tuple[Totals, list[Any]]:
        """Attempt figures (one scan grouped by tier and model), before any turn figure."""
        t = Totals()
        by_tier: dict[str, Bucket] = {}
        by_model: dict[str, Bucket] = {}
        lat_tier: dict[str, list[float]] = {}
        lat_model: dict[str, list[float]] = {}
        rows = self.store.query(_BUCKETS.format(where=where, select="tier, model",
                                                group="tier, model"), params)
        by_pair: dict[str, Bucket] = {}
        lat_pair: dict[str, list[float]] = {}
        for row in rows:
            _fold(by_tier, lat_tier, row["tier"], row)
            _fold(by_model, lat_model, row["model"], row)
            _fold(by_pair, lat_pair, f"{row['tier']}\x1f{row['model']}", row)
            t.calls += row["calls"]
            t.spent += row["spent"]
            t.unpriced += row["unpriced"]
            t.errors += row["errors"]
            t.cancelled += row["cancelled"]
            t.truncated += row["truncated"]
            t.estimated += row["estimated"]
            t.first_at = _min(t.first_at, row["first_at"])
            t.last_at = _max(t.last_at, row["last_at"])
        t.by_tier = dict(sorted(by_tier.items(), key=self._tier_key))
        t.by_model = dict(sorted(by_model.items()))
        t.by_tier_model = {tuple(k.split("\x1f", 1)): b  # type: ignore[misc]
                           for k, b in sorted(by_pair.items())}
        return t, rows

    def _series(self, where: str, params: list[Any]) -> list[SeriesPoint]:
        rows = self.store.query(
            _TURNS.format(where=where, key=_NO_KEY) + " SELECT * FROM t ORDER BY started_at, turn_id",
            params)
        actual = premium = 0.0
        out = []
        for r in rows:
            actual += r["actual"]
            premium += r["cf"] if r["cf"] is not None else r["actual"]
            out.append(SeriesPoint(r["turn_id"], r["started_at"], actual, premium))
        return out

    def breakdown(
        self,
        by: str,
        session_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> dict[str, Group]:
        """Attempts and turns per ``by`` (a key of :data:`DIMENSIONS`), sorted by key."""
        column = _column(by)
        where, params = request_filter(session_id, since, until)
        groups = self._group_attempts(column, where, params)
        if groups:
            _group_turns(groups, self.store.query(_TURNS_BY.format(where=where, key=column),
                                                  params))
        return dict(sorted(groups.items()))

    def _group_attempts(self, column: str, where: str, params: list[Any]) -> dict[str, Group]:
        groups: dict[str, Group] = {}
        latency: dict[str, list[float]] = {}
        sql = _BUCKETS.format(where=where, select=f"{column} AS key", group=column)
        for row in self.store.query(sql, params):
            _fold(groups, latency, row["key"] or "", row, Group)
        return groups

    def satisfaction(
        self, session_id: int | None = None, since: float | None = None
    ) -> dict[str, Satisfaction]:
        """Per model that gave the judged answer: how often it was good enough.

        The compare view escalates from the answer given, so that answer is the cheaper
        side of the pair: "cheap_enough" and "tie" mean its model satisfied the user.
        """
        where, params = request_filter(session_id, since, alias="v", time_column="created_at")
        rows = self.store.query(
            f"""SELECT r.model AS model, COUNT(*) AS n,
                       {_count("v.verdict = 'cheap_enough'")} AS cheap_enough,
                       {_count("v.verdict = 'tie'")} AS tie,
                       {_count("v.verdict = 'premium_better'")} AS premium_better
                FROM verdicts v JOIN requests r ON r.id = v.answer_request_id
                WHERE {where} GROUP BY r.model ORDER BY r.model""",
            params)
        return {r["model"]: Satisfaction(r["model"], r["n"], r["cheap_enough"], r["tie"],
                                         r["premium_better"]) for r in rows}

    def budget_state(self, session_id: int | None, now: float | None = None) -> BudgetState:
        """Spent this session and today (local time), for the router's [budget] check.

        Unpriced calls cannot be counted (their cost is unknown); the caller shows them.
        """
        day = self.store.scalar(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE started_at >= ?",
            (local_midnight(now),))
        session = 0.0
        if session_id is not None:
            # The whole session counts, even the part before midnight.
            session = self.store.scalar(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE session_id = ?",
                (session_id,))
        return BudgetState(session_spent=float(session or 0.0), day_spent=float(day or 0.0))

    def recent_rates(self, session_id: int | None, window: int = 10) -> RecentRates:
        """Fallback and escalation share over the session's last ``window`` turns."""
        where, params = request_filter(session_id)
        rows = self.store.query(
            _TURNS.format(where=where, key=_NO_KEY) + " SELECT fell_back, escalated FROM t "
            "ORDER BY started_at DESC, turn_id DESC LIMIT ?",
            [*params, int(window)])
        fb = sum(1 for r in rows if r["fell_back"])
        esc = sum(1 for r in rows if r["escalated"])
        bad = sum(1 for r in rows if r["fell_back"] or r["escalated"])
        return RecentRates(len(rows), fb, esc, bad)


def local_midnight(now: float | None = None) -> float:
    """Epoch seconds of the start of the local day containing ``now``."""
    day = datetime.fromtimestamp(time.time() if now is None else now).date()
    return datetime.combine(day, dtime.min).timestamp()


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
