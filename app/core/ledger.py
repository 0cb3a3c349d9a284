"""Cost arithmetic and the running totals built from the store.

What one attempt costs (all USD, prices per million tokens):

* Token counts are the provider's usage when it sent one (``usage_source="provider"``), else
  the tiktoken estimate (``"estimated"``, flagged in every total).
* ``output_tokens`` is the completion count as providers report it, which already includes
  reasoning tokens (OpenAI semantics). ``reasoning_tokens`` is the breakdown, shown but never
  billed a second time. An engine whose server reports reasoning separately from the
  completion must add it into ``output_tokens``.
* ``cached_input_tokens`` (part of ``input_tokens``) are billed at the cached-input rate.
* The price is the snapshot taken at call time and stored with the row; old rows are never
  re-priced with today's prices.
* Unknown price -> cost ``None``. Totals then say "at least $X, N calls unpriced": ``None``
  is never added as $0.
* A cache hit costs $0; its premium counterfactual still counts, so the saving shows.

The premium counterfactual is what the same turn would have cost on the top tier: same
input (and cached-input) tokens, output tokens as observed. It is an estimate, counted once
per turn (from the turn's last attempt), while the actual cost of a turn is the sum of all
its attempts, including failed ones that still cost money.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.pricing import Price, price_for
from app.core.records import AttemptRecord

if TYPE_CHECKING:
    from app.core.settings import Settings


def snapshot_price(rec: AttemptRecord) -> Price | None:
    """The price stored with the attempt, or None when it was unknown at call time."""
    if rec.price_input_per_mtok is None or rec.price_output_per_mtok is None:
        return None
    cached = rec.price_cached_input_per_mtok
    return Price(
        rec.price_input_per_mtok,
        rec.price_output_per_mtok,
        rec.price_input_per_mtok if cached is None else cached,
        rec.price_source or "snapshot",
    )


def usage_cost(price: Price | None, rec: AttemptRecord) -> float | None:
    """USD for the attempt's tokens at ``price``; reasoning is inside output_tokens."""
    if price is None:
        return None
    return price.cost(rec.input_tokens, rec.output_tokens, rec.cached_input_tokens)


def snapshot_cost(rec: AttemptRecord) -> float | None:
    """What the attempt cost at its stored price snapshot ($0 for a cache hit)."""
    if rec.cache_hit:
        return 0.0
    return usage_cost(snapshot_price(rec), rec)


def stamp(rec: AttemptRecord, settings: Settings) -> AttemptRecord:
    """Fill in the price snapshot (price in force now), cost and premium counterfactual.

    Call it when the attempt ends, before ``store.record_attempt``. Fields the engine
    already set are kept.
    """
    if rec.price_input_per_mtok is None and rec.price_output_per_mtok is None:
        price = _tier_price(settings, rec.tier)
        if price is not None:
            rec.price_input_per_mtok = price.input_per_mtok
            rec.price_output_per_mtok = price.output_per_mtok
            rec.price_cached_input_per_mtok = price.cached_input_per_mtok
            rec.price_source = price.source
    if rec.cost_usd is None:
        rec.cost_usd = snapshot_cost(rec)
    if rec.premium_cost_usd is None:
        rec.premium_cost_usd = premium_counterfactual(rec, settings)
    return rec


def premium_counterfactual(rec: AttemptRecord, settings: Settings) -> float | None:
    """What the attempt's tokens would have cost on the top tier at today's price.

    The same cached-input share is assumed there too, which keeps the claimed saving
    conservative. On the premium tier itself, the attempt's own snapshot price is used.
    """
    if rec.tier == settings.premium.name:
        own = snapshot_price(rec)
        if own is not None:
            return usage_cost(own, rec)
    return usage_cost(_tier_price(settings, settings.premium.name), rec)


def _tier_price(settings: Settings, tier_name: str) -> Price | None:
    try:
        tier = settings.tier(tier_name)
    except KeyError:
        return None
    return price_for(tier, settings.provider_for(tier))
