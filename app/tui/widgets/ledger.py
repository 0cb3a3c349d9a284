"""The ledger panel: what this session cost, what all-premium would have cost, the budget."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from app.core.conversation.ledger_view import LedgerView
from app.tui.fmt import format_usd, tier_style

LABEL = "dim"
BAR_WIDTH = 12
LABEL_WIDTH = 12


def _label(text: str) -> tuple[str, str]:
    return (f"{text:<{LABEL_WIDTH}}", LABEL)


def budget_bar(spent: float, cap: float | None, act_fraction: float) -> Content:
    """A text bar that turns the warning colour near the cap and the error colour at it."""
    if not cap:
        return Content.assemble(_label("budget"), ("no cap ([budget] session_usd)", LABEL))
    frac = max(0.0, spent / cap)
    filled = min(BAR_WIDTH, round(frac * BAR_WIDTH))
    if frac >= act_fraction:
        colour = "$error"
    elif frac >= act_fraction * 0.75:
        colour = "$rd-cost-warning"
    else:
        colour = "$success"
    return Content.assemble(
        _label("budget"), "[", ("█" * filled, colour), ("·" * (BAR_WIDTH - filled), LABEL),
        "] ", (f"{format_usd(spent)}", colour if frac >= act_fraction * 0.75 else ""),
        f" / {format_usd(cap)}",
    )


def render_ledger(v: LedgerView, tier_names: Sequence[str]) -> Content:
    spent = format_usd(v.spent_usd)
    if v.unpriced_calls:
        spent = f"at least {spent}"
    lines: list[Content] = [
        Content.assemble(_label("spent"), (spent, "bold")),
        Content.assemble(_label("all-premium"), format_usd(v.premium_usd)),
    ]
    pct = v.savings_pct
    saved = format_usd(v.savings_usd) if v.turns else "$0"
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
    lines.append(Content.assemble(
        _label("events"), f"fallback {v.fallbacks} · escalated {v.escalations} · cache {v.cache_hits}",
    ))
    if v.unpriced_calls:
        lines.append(Content.assemble(
            _label("unpriced"),
            (f"{v.unpriced_calls} call{'s' if v.unpriced_calls != 1 else ''}: price unknown, "
             "not counted as $0", "$rd-cost-warning"),
        ))
    lines.append(budget_bar(v.spent_usd, v.budget_cap_usd, v.budget_act_fraction))
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
        self.update(render_ledger(view, self.tier_names))
