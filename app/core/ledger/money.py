"""The one money formatter: every face shows USD through :func:`format_usd`.

Calls often cost a fraction of a hundredth of a cent, so amounts under a dollar keep three
significant digits (``$0.000009``, ``$0.0123``) instead of a fixed number of decimals that
would print a real cost as ``$0.0000``. An unknown amount is ``?``, never ``$0``.
"""

from __future__ import annotations

import math

SIGNIFICANT = 3
MAX_DECIMALS = 12


def format_usd(value: float | None) -> str:
    """``$12.34``, ``$0.31``, ``$0.0041``, ``$0.000009``; ``?`` when unknown."""
    if value is None or not math.isfinite(value):
        return "?"
    if value == 0:
        return "$0"
    if value < 0:
        return "-" + format_usd(-value)
    # The same amount summed in another order (SQL vs Python) differs in its last bits, and
    # 2.0749999999999997 and 2.0750000000000002 would print as $2.07 and $2.08: twelve
    # significant digits first, so every view shows one figure.
    value = float(f"{value:.12g}")
    if value >= 1:
        return f"${value:,.2f}"
    decimals = SIGNIFICANT - 1 - math.floor(math.log10(value))
    decimals = min(max(2, decimals), MAX_DECIMALS)
    text = f"{value:.{decimals}f}"
    whole, frac = text.split(".")
    frac = frac.rstrip("0").ljust(2, "0")
    if float(f"{whole}.{frac}") == 0:
        return f"<${10 ** -MAX_DECIMALS:.{MAX_DECIMALS}f}"
    return f"${whole}.{frac}"


def money_text(spent: float, unpriced: int) -> str:
    """"$X", or "at least $X, N calls unpriced" when some calls had no known price."""
    if unpriced:
        s = "s" if unpriced != 1 else ""
        return f"at least {format_usd(spent)}, {unpriced} call{s} unpriced"
    return format_usd(spent)
