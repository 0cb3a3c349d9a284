"""The one cost function: what an attempt cost, and what it would have cost on the top tier.

:func:`attempt_cost` runs once, when an attempt ends (the engine calls it just before the
attempt is recorded); its figures and the price snapshot are stored with the row, and every
total afterwards reads them back. Nothing re-prices an old row with today's prices.

The rules (all USD, prices per million tokens):

* Token counts are the provider's usage when it sent one (``source="provider"``), else a
  tiktoken estimate (``"estimated"``, flagged in every total).
* ``output_tokens`` is the completion count as providers report it, which already includes
  reasoning tokens (OpenAI semantics); ``reasoning_tokens`` is the breakdown, shown but never
  billed a second time.
* ``cached_input_tokens`` (part of ``input_tokens``) are billed at the cached-input rate.
* Unknown price -> ``None``. Totals then say "at least $X, N calls unpriced"; ``None`` is
  never added as $0.
* A cache hit costs $0; its premium counterfactual still counts, so the saving shows.
* The premium counterfactual is the same usage (input, cached-input share and output as
  observed) at the top tier's price: an estimate, which the ledger counts once per turn.
* An attempt that gave no answer (cancelled, failed) has its own cost as counterfactual: a
  partial answer nobody kept earns no saving.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config.settings import Settings, TierConfig
from app.core.ledger.pricing import Price, price_for
from app.core.ledger.records import AttemptRecord, Usage


@dataclass(frozen=True, slots=True)
class AttemptCost:
    price: Price | None  # the snapshot in force at call time
    cost_usd: float | None
    premium_cost_usd: float | None

    def fill(self, rec: AttemptRecord) -> AttemptRecord:
        """Write the price snapshot and both costs into the record that will be stored."""
        p = self.price
        rec.price_input_per_mtok = p.input_per_mtok if p else None
        rec.price_output_per_mtok = p.output_per_mtok if p else None
        rec.price_cached_input_per_mtok = p.cached_input_per_mtok if p else None
        rec.price_source = p.source if p else None
        rec.cost_usd = self.cost_usd
        rec.premium_cost_usd = self.premium_cost_usd
        return rec


def usage_cost(price: Price | None, usage: Usage) -> float | None:
    if price is None:
        return None
    return price.cost(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens)


def attempt_cost(settings: Settings, tier: TierConfig, usage: Usage, *,
                 cache_hit: bool = False, answered: bool = True) -> AttemptCost:
    """Price ``usage`` on ``tier`` now, and the same usage on the top tier (``answered``
    False: at its own cost, see the module docstring)."""
    price = price_for(tier, settings.provider_for(tier))
    cost = 0.0 if cache_hit else usage_cost(price, usage)
    if not answered:
        return AttemptCost(price, cost, cost)
    top = settings.premium
    premium = price if tier.name == top.name else price_for(top, settings.provider_for(top))
    return AttemptCost(price, cost, usage_cost(premium, usage))


def total_cost(costs: list[float | None]) -> float | None:
    """The cost of several attempts; unknown if any one of them is (never counted as $0)."""
    return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
