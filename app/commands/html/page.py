"""The building blocks of RouteDeck's self-contained HTML pages: one stylesheet, the page
frame, inline-SVG charts and the policy tables shared by the report and audit pages.

Nothing on a page is fetched: styles are inline, charts are SVG in the document, fonts are
the reader's own, and a Content-Security-Policy forbids loading anything, so a page mailed
to a stakeholder opens the same offline, and text from a prompt cannot pull anything in
even if it slipped past escaping. Every amount goes through the one money formatter.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from app import __version__
from app.core.ledger.money import format_usd

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { --ink:#1b2430; --muted:#5b6675; --line:#d9dee5; --card:#fff; --bg:#f4f6f9;
  --routed:#1f7a5c; --premium:#b4442c; --cheap:#3b6fb6; --accent:#6b4fbb; --bar:#3b6fb6; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 40px; }
header h1 { margin:0 0 4px; font-size: 1.6rem; }
header p { margin: 2px 0; color: var(--muted); }
h2 { font-size: 1.1rem; margin: 0 0 12px; }
section.card { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:16px 18px; margin: 16px 0; }
.grid { display:grid; gap:12px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 12rem), 1fr)); }
.figure { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding: 12px 14px; }
.figure .label { color:var(--muted); font-size:.85rem; }
.figure .value { font-size:1.55rem; font-weight:650; font-variant-numeric: tabular-nums;
  overflow-wrap:anywhere; }
.figure .note { color:var(--muted); font-size:.8rem; }
.figure.saved .value { color: var(--routed); }
.unknown { color: var(--premium); font-weight: 600; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width:100%; font-variant-numeric: tabular-nums; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line);
  vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 12rem; }
th { font-size:.8rem; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; white-space: nowrap; }
.scroll { overflow-x:auto; }
.bars { display:grid; gap: 8px; }
.barrow { display:grid; grid-template-columns: minmax(6rem, 10rem) 1fr minmax(8rem, 18rem);
  grid-template-areas: "name bar val"; gap: 2px 12px; align-items:center; }
.barrow .name { grid-area: name; overflow-wrap:break-word; min-width:0; }
.barrow svg { grid-area: bar; }
.barrow .val { grid-area: val; text-align:right; font-variant-numeric: tabular-nums; }
svg.bar { width:100%; height:14px; display:block; }
svg.bar rect.track { fill: #e8ebf0; }
svg.bar rect.fill { fill: var(--bar); }
svg.bar.premium rect.fill { fill: var(--premium); }
svg.bar.routed rect.fill { fill: var(--routed); }
svg.bar.cheap rect.fill { fill: var(--cheap); }
svg.chart { width:100%; max-width:640px; height:auto; display:block; }
svg.chart .grid line { stroke: #e3e7ec; stroke-width:1; }
svg.chart text { fill: var(--muted); font-size: 17px; }
svg.chart .line { fill:none; stroke-width:3; stroke-linejoin:round; }
svg.chart .routed { stroke: var(--routed); }
svg.chart .premium { stroke: var(--premium); stroke-dasharray: 8 5; }
svg.chart .cheap { stroke: var(--cheap); stroke-dasharray: 2 4; }
svg.chart .saved { fill: var(--routed); opacity:.12; stroke:none; }
.legend { display:flex; flex-wrap:wrap; gap: 4px 18px; margin: 8px 0 0; padding:0;
  list-style:none; font-size:.9rem; }
.legend .key { display:inline-block; width:14px; height:4px; vertical-align:middle;
  margin-right:6px; }
.key.routed { background: var(--routed); } .key.premium { background: var(--premium); }
.key.cheap { background: var(--cheap); }
dl.policy { display:grid; grid-template-columns: max-content 1fr; gap:4px 14px; margin:0; }
dl.policy dt { color:var(--muted); } dl.policy dd { margin:0; overflow-wrap:anywhere; }
.prompt { min-width: 16rem; max-width: 36rem; overflow-wrap:anywhere; }
footer { color:var(--muted); font-size:.8rem; margin-top: 20px; }
@media (max-width: 600px) {
  main { padding: 14px 10px 28px; }
  header h1 { font-size: 1.3rem; }
  section.card { padding: 12px; }
  .figure .value { font-size: 1.3rem; }
  .barrow { grid-template-columns: fit-content(60%) minmax(0, 1fr);
    grid-template-areas: "name val" "bar bar"; }
  th, td { padding: 4px 5px; }
}
@media print {
  @page { margin: 14mm; }
  body { background:#fff; font-size: 11pt; }
  main { max-width:none; padding:0; }
  section.card, .figure { border-color:#bbb; break-inside: avoid; }
  .scroll { overflow: visible; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def money(value: float | None, figure: str | None = None) -> str:
    """An amount as the one formatter writes it; unknown amounts say so, never $0."""
    attr = f' data-figure="{esc(figure)}"' if figure else ""
    if value is None:
        return f'<span class="unknown"{attr} title="price unknown">{format_usd(None)}</span>'
    return f"<span{attr}>{esc(format_usd(value))}</span>"


def at_least(value: float, unpriced: int, calls: int | None = None, what: str = "call") -> str:
    """``$X``, or ``at least $X`` with the count whose price is unknown; ``?`` when no call
    of the ``calls`` had a known price (there is no "at least" to tell)."""
    if not unpriced:
        return esc(format_usd(value))
    s = "" if unpriced == 1 else "s"
    known = "?" if calls is not None and unpriced >= calls else f"at least {esc(format_usd(value))}"
    return f'{known} <span class="unknown">({unpriced} {what}{s} unpriced)</span>'


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def pct(share: float | None, digits: int = 1) -> str:
    """``share`` is a fraction 0..1; ``-`` when there is nothing to divide."""
    return "-" if share is None else f"{100 * share:.{digits}f}%"


def when(ts: float | None, with_time: bool = True) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def figure(label: str, value_html: str, note: str = "", cls: str = "") -> str:
    note_html = f'<div class="note">{note}</div>' if note else ""
    return (f'<div class="figure {esc(cls)}"><div class="label">{esc(label)}</div>'
            f'<div class="value">{value_html}</div>{note_html}</div>')


def card(title: str, body: str, section_id: str) -> str:
    return (f'<section class="card" id="{esc(section_id)}" aria-labelledby="{esc(section_id)}-h">'
            f'<h2 id="{esc(section_id)}-h">{esc(title)}</h2>{body}</section>')


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int] | None = None,
          table_id: str = "", wrap: set[int] | None = None) -> str:
    """Cells are HTML already (escape text with :func:`esc` first). Cells stay on one line
    (the table scrolls sideways on a phone) except the ``wrap`` columns, for long text."""
    numeric, wrap = numeric or set(), wrap or set()

    def cls(i: int) -> str:
        names = [n for n, cols in (("num", numeric), ("wrap", wrap)) if i in cols]
        return f' class="{" ".join(names)}"' if names else ""

    head = "".join(f'<th{cls(i)} scope="col">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    tid = f' id="{esc(table_id)}"' if table_id else ""
    return (f'<div class="scroll"><table{tid}><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def bar_rows(rows: Sequence[tuple[str, float | None, str, str]], chart_id: str) -> str:
    """Horizontal bars: (name, fraction 0..1 of the longest bar, value text as HTML, css
    class). Names and values are HTML text so they stay readable at any width; the bars are
    SVG so they print and need nothing but the page."""
    out = [f'<div class="bars" id="{esc(chart_id)}" role="list">']
    for name, fraction, value_html, cls in rows:
        width = 0.0 if fraction is None else max(0.0, min(1.0, fraction)) * 100
        out.append(
            f'<div class="barrow" role="listitem"><div class="name">{esc(name)}</div>'
            f'<svg class="bar {esc(cls)}" viewBox="0 0 100 10" preserveAspectRatio="none" '
            f'aria-hidden="true"><rect class="track" width="100" height="10"/>'
            f'<rect class="fill" width="{width:.3f}" height="10"/></svg>'
            f'<div class="val">{value_html}</div></div>')
    out.append("</div>")
    return "".join(out)


def line_chart(
    xs: Sequence[float],
    lines: Sequence[tuple[str, str, Sequence[float]]],
    x_labels: tuple[str, str],
    chart_id: str,
    title: str,
    shade_between: tuple[int, int] | None = None,
) -> str:
    """Cumulative lines over a shared x axis, as one SVG. ``lines`` holds (css class,
    legend label, values); ``shade_between`` fills the gap between two lines (the saving)."""
    w, h, left, right, top, bottom = 640, 260, 12, 104, 14, 30
    pw, ph = w - left - right, h - top - bottom
    if not xs:
        return '<p class="muted">Nothing to draw yet.</p>'
    x0, x1 = min(xs), max(xs)
    ymax = max((max(v) for _, _, v in lines if v), default=0.0) or 1.0

    def px(x: float) -> float:
        return left + (pw * (x - x0) / (x1 - x0) if x1 > x0 else pw / 2)

    def py(y: float) -> float:
        return top + ph - ph * y / ymax

    parts = [f'<svg class="chart" id="{esc(chart_id)}" viewBox="0 0 {w} {h}" role="img" '
             f'aria-label="{esc(title)}"><title>{esc(title)}</title><g class="grid">']
    for i in range(5):
        y = top + ph * i / 4
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        # Right-aligned to the picture's edge: a long amount ("$0.0000805") is never cut.
        parts.append(f'<text x="{w - 2}" y="{y + 5:.1f}" text-anchor="end">'
                     f"{esc(format_usd(ymax * (4 - i) / 4))}</text>")
    parts.append("</g>")
    if shade_between is not None and len(xs) > 1:
        hi, lo = lines[shade_between[0]][2], lines[shade_between[1]][2]
        pts = [f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, hi, strict=True)]
        pts += [f"{px(x):.1f},{py(y):.1f}" for x, y in reversed(list(zip(xs, lo, strict=True)))]
        parts.append(f'<polygon class="saved" points="{" ".join(pts)}"/>')
    for cls, label, values in lines:
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, values, strict=True))
        if len(xs) == 1:
            parts.append(f'<circle class="line {esc(cls)}" cx="{px(xs[0]):.1f}" '
                         f'cy="{py(values[0]):.1f}" r="4"><title>{esc(label)}</title></circle>')
        else:
            parts.append(f'<polyline class="line {esc(cls)}" points="{pts}">'
                         f"<title>{esc(label)}</title></polyline>")
    parts.append(f'<text x="{left}" y="{h - 8}">{esc(x_labels[0])}</text>')
    parts.append(f'<text x="{left + pw}" y="{h - 8}" text-anchor="end">{esc(x_labels[1])}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="key {esc(cls)}"></span>{esc(label)}: '
        f"{esc(format_usd(values[-1]))}</li>" for cls, label, values in lines)
    return "".join(parts) + f'<ul class="legend">{legend}</ul>'


def per_mtok(value: float | None) -> str:
    return money(value) + ("" if value is None else " / 1M tok")


def policy_card(policy: dict[str, Any], note: str) -> str:
    """The routing policy and prices in force when the page was made."""
    tiers = table(
        ["tier", "model", "provider", "input", "output", "price source"],
        ([esc(t["name"]), esc(t["model"]), esc(t["provider"]), per_mtok(t["input_per_mtok"]),
          per_mtok(t["output_per_mtok"]),
          esc(t["price_source"]) if t["price_source"] else '<span class="unknown">unknown '
          "(set input_per_mtok / output_per_mtok for this tier)</span>"]
         for t in policy["tiers"]),
        numeric={3, 4}, table_id="policy-tiers")
    names = [t["name"] for t in policy["tiers"]]
    bounds = ", ".join(f"{a} &lt; {th:g} &le; {b}" for a, b, th in
                       zip(names, names[1:], policy["thresholds"], strict=False)) or "-"
    mins = ", ".join(f"{esc(k)} &rarr; {esc(v)}" for k, v in policy["task_min_tier"].items())
    items: list[tuple[str, str]] = [
        ("strategy", esc(policy["strategy"])),
        ("score thresholds", bounds),
        ("task minimums", mins or "none configured"),
        ("demand lifts", ", ".join(f"{esc(k)} +{v}" for k, v in
                                   policy.get("demand_lift", {}).items()) or "none"),
    ]
    if "low_confidence_margin" in policy:
        items.append(("low-confidence band", f"{policy['low_confidence_margin']:g} below a threshold"))
    if policy.get("escalate_keywords"):
        items.append(("escalate keywords", esc(", ".join(policy["escalate_keywords"]))))
    if policy.get("deescalate_keywords"):
        items.append(("cheapest-tier keywords", esc(", ".join(policy["deescalate_keywords"]))))
    cascade = policy.get("cascade")
    if cascade is not None:
        items.append(("cascade", f"on, re-ask one tier up below mean logprob "
                                 f"{cascade['min_mean_logprob']:g}" if cascade["enabled"] else "off"))
    if "fallback_model" in policy:
        items.append(("fallback tier", esc(policy["fallback_model"] or "next tier up")))
    budget = policy.get("budget")
    if budget is not None:
        caps = [f"{label} {esc(format_usd(v))}" for label, v in
                (("session", budget["session_usd"]), ("day", budget["daily_usd"])) if v]
        items.append(("budget", esc(", ".join(caps)) + f" ({esc(budget['action'])} near the cap)"
                      if caps else "no caps"))
    items.append(("expected answer", f"{policy['expected_output_tokens']} output tokens "
                                     "(routing estimate)"))
    items.append(("prices", esc(policy["price_snapshot"]) + ", unless a tier sets its own"))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    return card("Routing policy in force", f'{tiers}<dl class="policy">{dl}</dl>'
                f'<p class="muted">{note}</p>', "policy")


def page(title: str, header_html: str, body: str, footer_note: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><header>{header_html}</header>{body}"
        f"<footer>Made by RouteDeck {esc(__version__)}. {footer_note}</footer>"
        "</main></body></html>\n"
    )
