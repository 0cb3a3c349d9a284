"""Small formatting helpers shared by the panels (pure functions, no widgets)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from app.core.ledger.money import format_usd

__all__ = ["format_usd", "hanging", "ms", "seconds", "tier_style", "tokens"]


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


def hanging(text: str, width: int, indent: int) -> str:
    """``text`` wrapped to a panel ``width`` columns wide after a label column of ``indent``,
    continuation lines indented under the first: the terminal's own wrap would start them at
    the panel's edge, under the labels. Unchanged when the width is unknown (0) or too small
    to help."""
    room = width - indent
    if width <= 0 or room < 12 or len(text) <= room:
        return text
    lines = textwrap.wrap(text, room, break_on_hyphens=False)
    return ("\n" + " " * indent).join(lines)
