"""F2: the ledger in detail — per-model table and cumulative actual vs all-premium cost."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from app.core.conversation.ledger_view import LedgerView
from app.core.conversation.verdict_stats import VerdictStats
from app.tui.fmt import format_usd
from app.tui.widgets.ledger import render_ledger

CHART_HEIGHT = 8
CHART_WIDTH = 60


def cost_chart(series: Sequence[tuple[float, float]], height: int = CHART_HEIGHT,
               width: int = CHART_WIDTH, offline: bool = False) -> Content:
    """Cumulative cost per turn as columns: solid = actual, shaded = what premium would add."""
    if not series and offline:
        return Content.styled("Nothing sent yet (offline): the projection above says what "
                              "routing would save; the chart fills in once answers come.", "dim")
    if not series:
        return Content.styled("No priced turns yet: the chart fills in as you prompt.", "dim")
    if len(series) > width:  # one column per group of turns, keeping each group's last point
        step = len(series) / width
        series = [series[min(len(series) - 1, int((i + 1) * step) - 1)] for i in range(width)]
    top = max(max(a, p) for a, p in series) or 1.0
    col = max(1, min(4, width // len(series)))  # few turns: wider columns, same chart width
    rows: list[Content] = []
    top_label = format_usd(top)
    pad = max(8, len(top_label))  # the axis stays one straight column whatever the amount
    for level in range(height, 0, -1):
        cut = top * (level - 0.5) / height
        cells: list[tuple[str, str]] = []
        for actual, premium in series:
            if actual >= cut:
                cells.append(("█" * col, "$rd-tier-cheap"))
            elif premium >= cut:
                cells.append(("░" * col, "$rd-tier-premium"))
            else:
                cells.append((" " * col, ""))
        label = top_label if level == height else ""
        rows.append(Content.assemble((f"{label:>{pad}} │", "dim"), *cells))
    rows.append(Content.styled(f"{'$0':>{pad}} └{'─' * (len(series) * col)} turns → {len(series)}",
                               "dim"))
    rows.append(Content.assemble((f"{'':>{pad}}  █", "$rd-tier-cheap"), " actual (cumulative)   ",
                                 ("░", "$rd-tier-premium"), " all-premium would have added"))
    return Content("\n").join(rows)


def _num(value: float | None) -> str:
    return "n.a." if value is None else f"{value:.3f}"


def verdict_text(stats: VerdictStats | None, escalate_key: str,
                 offline: bool = False) -> Content:
    """"Your router on your traffic" and per-model satisfaction, from the stored verdicts."""
    head = Content.styled("Your router on your traffic", "bold $primary")
    if stats is None:
        return Content.assemble(head, ("  no ledger: verdicts are not stored", "dim"))
    if not stats.verdicts and offline:
        # On lines of their own: after the heading it wrapped under it at 80 columns.
        return Content.assemble(head, ("\n  no verdicts yet: they judge answers. Once a model "
                                       f"answers,\n  press {escalate_key} to compare.", "dim"))
    if not stats.verdicts:
        return Content.assemble(head, (f"\n  no verdicts yet: press {escalate_key} after an "
                                       "answer", "dim"))
    lines = [Content.assemble(head, (f"  {stats.labels} label(s) from your verdicts", "dim"))]
    if stats.labels:
        cost = "never" if stats.cost98 is None else f"{stats.cost98:.2f} of premium-only"
        lines.append(Content.assemble(
            "  APGR ", (_num(stats.apgr), "bold"), "   CPT(50%) ", (_num(stats.cpt50), "bold"),
            "   cost@98% ", (cost, "bold")))
        if stats.labels < 20:
            lines.append(Content.styled("  few labels: a rough figure (`routedeck eval --mine` "
                                        "adds the baselines)", "dim"))
    for note in stats.notes:
        lines.append(Content.styled(f"  note: {note}", "dim"))
    lines.append(Content.styled("Satisfaction (the answer given was good enough: "
                                "cheap was enough or tie)", "bold $primary"))
    for s in stats.satisfaction:
        here = stats.session_satisfaction.get(s.model)
        rate = f"{s.rate:.0%}" if s.rate is not None else "n.a."
        lines.append(Content.assemble(
            f"  {s.model:<24}", (f"{s.satisfied} of {s.verdicts} ({rate})", "bold"),
            (f"   this session {here.satisfied} of {here.verdicts}" if here else "", "dim")))
    return Content("\n").join(lines)


class LedgerDetailsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f2,q", "dismiss", "Close", id="ledger_close")]

    def __init__(self, view: LedgerView, tier_names: Sequence[str], session_label: str,
                 stats: VerdictStats | None = None, escalate_key: str = "ctrl+e",
                 offline: bool = False) -> None:
        super().__init__()
        self.offline = offline
        self.view = view
        self.stats = stats
        self.escalate_key = escalate_key
        self.tier_names = list(tier_names)
        self.session_label = session_label

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="ledger-details", classes="dialog") as box:
            box.border_title = f"Ledger — {self.session_label}"
            # On a small terminal the chart and "your router on your traffic" are below the
            # fold: say how to get there.
            box.border_subtitle = "↑↓ PgUp/PgDn scroll · esc closes"
            yield Static(render_ledger(self.view, self.tier_names), id="ledger-summary")
            table = DataTable(id="model-table", cursor_type="none", zebra_stripes=True)
            table.display = bool(self.view.models)  # headers over no rows say nothing
            yield table
            yield Static(cost_chart(self.view.series, offline=self.offline), id="cost-chart")
            yield Static(verdict_text(self.stats, self.escalate_key, self.offline),
                         id="your-traffic")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("tier", "model", "calls", "in tok", "out tok", "spent", "unpriced")
        for row in self.view.models:
            table.add_row(
                row.tier, row.model,
                str(row.calls), str(row.input_tokens), str(row.output_tokens),
                format_usd(row.cost_usd), str(row.unpriced) if row.unpriced else "",
            )
