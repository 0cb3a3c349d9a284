"""What the ledger panel and its details screen show, read from the store's ledger.

There is no second tally: every figure comes from :class:`app.core.ledger.reader.Ledger`,
which folds the stored attempt rows (an in-memory store stands in when the file cannot open).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.config.settings import Settings
from app.core.ledger.reader import Ledger
from app.core.ledger.store import Store


@dataclass
class ModelRow:
    model: str
    tier: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0


@dataclass
class LedgerView:
    spent_usd: float = 0.0
    unpriced_calls: int = 0
    premium_usd: float = 0.0
    savings_usd: float | None = None  # over fully priced turns only
    savings_pct: float | None = None
    calls_by_tier: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    escalations: int = 0
    cache_hits: int = 0
    turns: int = 0
    truncated: int = 0
    budget_cap_usd: float | None = None
    budget_act_fraction: float = 0.9
    series: list[tuple[float, float]] = field(default_factory=list)  # cumulative (actual, premium)
    models: list[ModelRow] = field(default_factory=list)
    alarm: str = ""
    # Offline: what the prompts routed without a model would have cost (estimated tokens).
    projected_turns: int = 0
    projected_routed_usd: float = 0.0
    projected_premium_usd: float = 0.0
    projected_unpriced: int = 0


def ledger_view(store: Store, settings: Settings, session_id: int | None) -> LedgerView:
    ledger = Ledger(store)
    t = ledger.totals(session_id, series=True)
    names = [x.name for x in settings.tiers]

    def pos(tier: str) -> int:
        return names.index(tier) if tier in names else len(names)

    view = LedgerView(
        spent_usd=t.spent, unpriced_calls=t.unpriced, premium_usd=t.premium,
        savings_usd=t.savings, savings_pct=t.savings_pct, calls_by_tier=t.tier_calls(),
        fallbacks=t.fallbacks, escalations=t.escalations, cache_hits=t.cache_hits,
        turns=t.turns, truncated=t.truncated,
        budget_cap_usd=settings.budget.session_usd,
        budget_act_fraction=settings.budget.act_at_fraction,
        series=[(p.actual, p.premium) for p in t.series],
        models=sorted((ModelRow(model, tier, b.calls, b.input_tokens, b.output_tokens,
                                b.spent, b.unpriced)
                       for (tier, model), b in t.by_tier_model.items()),
                      key=lambda r: (pos(r.tier), r.model)),
    )
    r = ledger.recent_rates(session_id, settings.ui.alarm_window)
    view.alarm = alarm_text(settings, r.troubled, r.turns)
    return view


def alarm_text(settings: Settings, incidents: int, turns: int) -> str:
    """The misrouting alarm: fallbacks + escalations over the last N turns, or ''."""
    # Turns the session has not had yet count as clean, so one early fallback in a
    # two-turn session is not an alarm: the rate is always over the full window.
    window = settings.ui.alarm_window
    rate = incidents / window
    if rate <= settings.ui.alarm_rate:
        return ""
    return (f"misrouting? {incidents} of the last {turns} turns fell back or escalated "
            f"({rate:.0%} of a {window}-turn window > {settings.ui.alarm_rate:.0%}): "
            "check the routing policy")
