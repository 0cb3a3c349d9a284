"""Small formatting helpers shared by the panels (pure functions, no widgets)."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.ledger.pricing import format_usd as _core_usd

__all__ = ["format_usd", "ms", "seconds", "tier_style", "tokens"]


def format_usd(value: float | None) -> str:
    """The core's money format, except that sub-cent-hundredth amounts keep two significant
    digits: a cheap call shown as "$0.0000" would read as free."""
    if value is not None and value < 0:
        return "-" + format_usd(-value)
    if value is not None and 0 < abs(value) < 0.0001:
        return "<$0.000001" if abs(value) < 1e-6 else f"${value:.6f}".rstrip("0")
    return _core_usd(value)


def tier_style(tier: str, tier_names: Sequence[str]) -> str:
    """The theme variable colouring a tier: cheapest, top, or anything between."""
    if tier_names and tier == tier_names[0]:
        return "$rd-tier-cheap"
    if tier_names and tier == tier_names[-1]:
        return "$rd-tier-premium"
    return "$rd-tier-mid"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)
