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


def _money(v: LedgerView | None, compact: bool) -> Content:
    if v is None:
        return Content("")
    if v.projected_turns and not v.turns:
        if compact and v.projected_premium_usd > 0:
            # Short: what routing would save. Two bare amounts ("$0.000424 vs $0.00707
            # premium") read as money spent.
            saves = 100 * (1 - v.projected_routed_usd / v.projected_premium_usd)
            return Content.assemble(("  │ ", "dim"),
                                    (f"would save {saves:.0f}%", "$rd-cost-warning"))
        return Content.assemble(("  │ projected ", "dim"), (
            f"{format_usd(v.projected_routed_usd)} vs {format_usd(v.projected_premium_usd)}"
            " all-premium", "$rd-cost-warning"))
    spent = format_usd(v.spent_usd) + ("+" if v.unpriced_calls else "")
    pct = f" {v.savings_pct:.0f}%" if v.savings_pct is not None else ""
    saved = f"{v.savings_pct:.0f}%" if compact and v.savings_pct is not None else \
        f"{saved_text(v)}{pct}"
    return Content.assemble(("  │ spent ", "dim"), spent, ("  saved ", "dim"),
                            (saved, "$rd-savings"))


# Fewer cells of the reason than this and the strip drops the model name, then shortens the
# money, before it cuts the reason: the model is in the header and F2, the reason nowhere.
_REASON_ROOM = 40


def render_strip(d: RouteDecision | None, v: LedgerView | None,
                 tier_names: Sequence[str], width: int = 0,
                 answered: str | None = None) -> Content:
    """``tier model · reason`` then ``spent · saved``; on a short line the model name and
    the money's words give way first, then the end of the reason."""
    if d is None:
        return Content.assemble(Content.styled("route: type a prompt", "dim"), _money(v, False))
    tier = (d.tier, f"{tier_style(d.tier, tier_names)} bold")
    after: list[Content | str | tuple[str, str]] = []
    if answered is not None and answered != d.tier:
        after = [(" → answered on ", "dim"),
                 (answered, f"{tier_style(answered, tier_names)} bold")]
    choices = [(True, False), (False, False), (False, True)]
    for with_model, compact in choices:
        lead = Content.assemble(tier, f" {d.model}" if with_model else "", *after, " · ")
        tail = _money(v, compact)
        if not width or width - tail.cell_length - lead.cell_length >= min(
                _REASON_ROOM, len(d.reason)):
            break
    reason = d.reason
    if width:
        # Whole clauses give way before words: the evidence sentence after the last "; "
        # goes first ("...; like GSM8K word problems, ..."), so the rule is never cut.
        room = width - tail.cell_length - lead.cell_length
        while len(reason) > room and "; " in reason:
            reason = reason.rsplit("; ", 1)[0]
    head = Content.assemble(lead, reason)
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

    def clear_decision(self) -> None:
        """A new or resumed session: the last decision was another session's."""
        self.decision, self.answered = None, None
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
