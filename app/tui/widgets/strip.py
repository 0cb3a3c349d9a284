"""The one-line decision strip shown instead of the side panels on a small terminal (or when
they are hidden with F3): the route, its reason and the session's spend and saving."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widgets import Static

from app.core.conversation.ledger_view import LedgerView
from app.core.routing.types import RouteDecision
from app.tui.fmt import format_usd, tier_style
from app.tui.widgets.ledger import saved_text


def render_strip(d: RouteDecision | None, v: LedgerView | None,
                 tier_names: Sequence[str], width: int = 0,
                 answered: str | None = None) -> Content:
    """``tier model · reason`` then ``spent · saved``; the reason gives way to the money when
    the line is short."""
    money: list[Content | str | tuple[str, str]] = []
    if v is not None:
        spent = format_usd(v.spent_usd) + ("+" if v.unpriced_calls else "")
        saved = saved_text(v)
        pct = f" {v.savings_pct:.0f}%" if v.savings_pct is not None else ""
        money = [("  │ spent ", "dim"), spent, ("  saved ", "dim"),
                 (f"{saved}{pct}", "$rd-savings")]
        if v.projected_turns and not v.turns:
            money = [("  │ projected ", "dim"),
                     (f"{format_usd(v.projected_routed_usd)} vs "
                      f"{format_usd(v.projected_premium_usd)} all-premium", "$rd-cost-warning")]
    tail = Content.assemble(*money)
    if d is None:
        head = Content.styled("route: type a prompt", "dim")
    else:
        head = Content.assemble((d.tier, f"{tier_style(d.tier, tier_names)} bold"),
                                f" {d.model} · ", d.reason)
        if answered is not None and answered != d.tier:
            head = Content.assemble(head, (" → answered on ", "dim"),
                                    (answered, f"{tier_style(answered, tier_names)} bold"))
    if width and head.cell_length + tail.cell_length > width:
        head = head.truncate(max(8, width - tail.cell_length), ellipsis=True)
    return Content.assemble(head, tail)


class DecisionStrip(Static):
    def __init__(self, tier_names: Sequence[str], **kwargs) -> None:
        super().__init__("", **kwargs)
        self.tier_names = list(tier_names)
        self.decision: RouteDecision | None = None
        self.view: LedgerView | None = None
        self.answered: str | None = None  # the tier the answer that stands came from

    def on_mount(self) -> None:
        self._redraw()

    def show_decision(self, decision: RouteDecision) -> None:
        self.decision, self.answered = decision, None
        self._redraw()

    def show_answered(self, tier: str) -> None:
        self.answered = tier
        self._redraw()

    def show_ledger(self, view: LedgerView) -> None:
        self.view = view
        self._redraw()

    def _redraw(self) -> None:
        # One line, always (the CSS fixes its height): a repaint, never a reflow of the screen,
        # whose cost grows with every answer mounted in the chat.
        self.update(render_strip(self.decision, self.view, self.tier_names,
                                 self.content_size.width, self.answered), layout=False)

    def on_resize(self) -> None:
        self._redraw()
