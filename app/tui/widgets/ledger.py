"""The ledger panel: what this session cost, what all-premium would have cost, the budget."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from app.core.conversation.ledger_view import LedgerView
from app.tui.fmt import format_usd, hanging, tier_style

LABEL = "dim"
BAR_WIDTH = 12
LABEL_WIDTH = 12


def _label(text: str) -> tuple[str, str]:
    return (f"{text:<{LABEL_WIDTH}}", LABEL)


COMPACT_BELOW = 44  # content width under which rows take their short forms


def budget_bar(spent: float, cap: float | None, act_fraction: float,
               bar_width: int = BAR_WIDTH) -> Content:
    """A text bar that turns the warning colour near the cap and the error colour at it."""
    if not cap:
        hint = "no cap" if bar_width < BAR_WIDTH else "no cap ([budget] session_usd)"
        return Content.assemble(_label("budget"), (hint, LABEL))
    frac = max(0.0, spent / cap)
    filled = min(bar_width, round(frac * bar_width))
    if frac >= act_fraction:
        colour = "$error"
    elif frac >= act_fraction * 0.75:
        colour = "$rd-cost-warning"
    else:
        colour = "$success"
    return Content.assemble(
        _label("budget"), "[", ("█" * filled, colour), ("·" * (bar_width - filled), LABEL),
        "] ", (f"{format_usd(spent)}", colour if frac >= act_fraction * 0.75 else ""),
        f" / {format_usd(cap)}",
    )


def saved_text(v: LedgerView) -> str:
    """What routing saved so far, as the panel and the strip both show it: $0 before any
    call, ``?`` when a turn's price is unknown."""
    return format_usd(v.savings_usd) if v.turns else "$0"


def render_ledger(v: LedgerView, tier_names: Sequence[str], width: int = 0) -> Content:
    """The panel's text; under ``COMPACT_BELOW`` columns of content, short forms keep every
    row on one line."""
    compact = 0 < width < COMPACT_BELOW
    spent = format_usd(v.spent_usd)
    if v.unpriced_calls:
        spent = f"at least {spent}"
    lines: list[Content] = [
        Content.assemble(_label("spent"), (spent, "bold")),
        Content.assemble(_label("all-premium"), format_usd(v.premium_usd)),
    ]
    pct = v.savings_pct
    saved = saved_text(v)
    lines.append(Content.assemble(
        _label("saved"), (saved, "$rd-savings bold"),
        (f" ({pct:.0f}%)" if pct is not None else "", "$rd-savings"),
    ))
    calls: list[Content | str | tuple[str, str]] = [_label("calls")]
    for i, name in enumerate(tier_names):
        if i:
            calls.append((" · ", LABEL))
        calls += [(name, tier_style(name, tier_names)), f" {v.calls_by_tier.get(name, 0)}"]
    lines.append(Content.assemble(*calls))
    esc = "esc" if compact else "escalated"
    lines.append(Content.assemble(
        _label("events"),
        hanging(f"fallback {v.fallbacks} · {esc} {v.escalations} · cache {v.cache_hits}",
                width, LABEL_WIDTH),
    ))
    if v.unpriced_calls:
        lines.append(Content.assemble(
            _label("unpriced"),
            (f"{v.unpriced_calls} call{'s' if v.unpriced_calls != 1 else ''}: price unknown, "
             "not counted as $0", "$rd-cost-warning"),
        ))
    if v.projected_turns:
        # Offline nothing is spent; what the routed prompts would have cost still makes the
        # point of routing in a demo without credentials.
        unpriced = f", {v.projected_unpriced} unpriced" if v.projected_unpriced else ""
        saved = v.projected_premium_usd - v.projected_routed_usd
        routed = f"{format_usd(v.projected_routed_usd)} routed"
        premium = f"{format_usd(v.projected_premium_usd)} all-premium"
        if 0 < width < LABEL_WIDTH + len(routed) + len(premium) + 3:
            # One figure per line rather than an amount cut from its name.
            figures = f"{routed}\n{' ' * LABEL_WIDTH}{premium}"
        else:
            figures = f"{routed} · {premium}"
        lines.append(Content.assemble(_label("projected"), (figures, "$rd-cost-warning")))
        pct = f" ({100 * saved / v.projected_premium_usd:.0f}%)" \
            if v.projected_premium_usd > 0 else ""
        said = (f"saves {format_usd(saved)}{pct} over {v.projected_turns} "
                f"prompt{'s' if v.projected_turns != 1 else ''} (estimated, not sent){unpriced}")
        lines.append(Content.assemble(_label(""), (hanging(said, width, LABEL_WIDTH), LABEL)))
    lines.append(budget_bar(v.spent_usd, v.budget_cap_usd, v.budget_act_fraction,
                            8 if compact else BAR_WIDTH))
    if v.alarm:
        lines.append(Content.styled(f"⚠ {v.alarm}", "$error bold"))
    return Content("\n").join(lines)


class LedgerPanel(Static):
    def __init__(self, tier_names: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.tier_names = list(tier_names)
        self.view: LedgerView | None = None
        self.border_title = "Ledger"

    def show(self, view: LedgerView) -> None:
        self.view = view
        self.set_class(bool(view.alarm), "-alarm")
        self.update(render_ledger(view, self.tier_names, self.content_size.width))

    def on_resize(self) -> None:
        if self.view is not None:
            self.show(self.view)
