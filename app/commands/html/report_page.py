"""``routedeck report --html``: the savings report as one page, rendered from the very dict
``report --json`` prints (:meth:`app.core.ledger.summary.ReportData.to_dict`).

Elements that show a headline figure carry ``data-figure="<json key>"`` so a test (or a
reader with dev tools) can hold the page against the JSON.
"""

from __future__ import annotations

from typing import Any

from app.commands.html.page import (
    at_least,
    bar_rows,
    card,
    esc,
    figure,
    line_chart,
    money,
    page,
    pct,
    plural,
    policy_card,
    table,
    when,
)
from app.core.ledger.money import format_usd
from app.core.routing.types import TASK_LABELS


def scope_text(scope: dict[str, Any]) -> str:
    parts = [f"session {scope['session']}" if scope.get("session") is not None
             else "all sessions"]
    if scope.get("since"):
        parts.append(f"from {scope['since']}")
    if scope.get("until"):
        parts.append(f"until {scope['until']}")
    return " ".join(parts)


def render_report(data: dict[str, Any]) -> str:
    """The whole page for one ``report --json`` object (``scope`` included)."""
    scope = scope_text(data["scope"])
    header = (f"<h1>RouteDeck savings report</h1><p>{esc(scope)}"
              + (f" &middot; calls from {esc(when(data['first_at']))} to "
                 f"{esc(when(data['last_at']))}" if data["calls"] else "")
              + f"</p><p>Generated {esc(when(data['generated_at']))}</p>")
    if not data["calls"]:
        body = card("No calls yet", "<p>No calls are recorded for this scope. Calls made in "
                    "the console or with <code>routedeck ask</code> are recorded in the ledger "
                    "and show up here.</p>", "empty")
    else:
        body = "".join((_headline(data), _spend_chart(data), _tiers(data), _tasks(data),
                        _reliability(data), _satisfaction(data), _models(data)))
    body += policy_card(data["policy"], "The policy and prices of the current configuration. "
                        "Past calls keep the price they were recorded with (below).")
    body += _prices_seen(data)
    return page(f"RouteDeck savings report: {scope}", header, body,
                "The figures on this page are those of <code>routedeck report --json</code> "
                "for the same scope.")


def _headline(d: dict[str, Any]) -> str:
    spent = (f'<span data-figure="spent">{esc(format_usd(d["spent"]))}</span>')
    spent_note = (f'<span class="unknown">plus {d["unpriced"]} call(s) with unknown price'
                  "</span>" if d["unpriced"] else "every call priced")
    premium_note = (f'<span class="unknown">{d["premium_unpriced"]} turn(s) unknown</span>'
                    if d["premium_unpriced"] else "same tokens on the top tier")
    if d["savings"] is None:
        saved = money(None, "savings")
        saved_note = '<span class="unknown">unknown: no fully priced turn yet</span>'
        saved_pct = '<span class="unknown" data-figure="savings_pct">?</span>'
    else:
        saved = money(d["savings"], "savings")
        saved_note = f"over {d['priced_turns']} fully priced turn(s)"
        if d.get("cache_hits") and d.get("cache_savings") is not None:
            saved_note += (f'; <span data-figure="cache_savings">'
                           f'{esc(format_usd(d["cache_savings"]))}</span> of it from '
                           f'{plural(d["cache_hits"], "cache hit")}, not routing')
        saved_pct = (f'<span data-figure="savings_pct">{d["savings_pct"]:.1f}%</span>'
                     if d["savings_pct"] is not None else
                     '<span class="unknown" data-figure="savings_pct">?</span>')
    return ('<section class="grid" id="headline" aria-label="headline figures">'
            + figure("Spent (routed)", spent, spent_note)
            + figure("Always-premium would have cost", money(d["premium"], "premium"),
                     premium_note)
            + figure("Saved", saved, saved_note, "saved")
            + figure("Saved %", saved_pct, "of the all-premium cost", "saved")
            + figure("Turns", f'<span data-figure="turns">{d["turns"]:,}</span>',
                     f'<span data-figure="calls">{d["calls"]:,}</span> calls')
            + "</section>")


def _spend_chart(d: dict[str, Any]) -> str:
    series = d["series"]
    xs = list(range(1, len(series) + 1))
    chart = line_chart(
        xs,
        [("premium", "always-premium", [p["premium"] for p in series]),
         ("routed", "routed (actual)", [p["actual"] for p in series])],
        (when(series[0]["at"]) if series else "", when(series[-1]["at"]) if series else ""),
        "spend-chart", "Cumulative spend: routed vs always-premium", shade_between=(0, 1))
    gap = ("saving" if not series or series[-1]["premium"] >= series[-1]["actual"] else
           "overspend: routed (with its re-runs and comparisons) cost more than "
           "always-premium would have")
    note = (f'<p class="muted">Cumulative, turn by turn in time order; the shaded gap is the '
            f"{gap}. A turn whose premium counterfactual is unknown adds its actual cost to "
            "both lines.</p>")
    return card("Spend over time", chart + note, "spend")


def _tiers(d: dict[str, Any]) -> str:
    calls = d["calls"] or 1
    rows = [(k, b["calls"] / calls, f'{plural(b["calls"], "call")} &middot; {pct(b["calls"] / calls)}'
             f' &middot; {at_least(b["spent"], b["unpriced"], b["calls"])}', "")
            for k, b in d["by_tier"].items()]
    return card("Calls per tier", bar_rows(rows, "tier-share"), "tiers")


def _tasks(d: dict[str, Any]) -> str:
    if not d["by_task"]:
        return ""
    turns = sum(t["turns"] for t in d["by_task"]) or 1
    rows = [(TASK_LABELS.get(t["task_type"], t["task_type"]), t["turns"] / turns,
             f'{plural(t["turns"], "turn")} &middot; {pct(t["turns"] / turns)} &middot; '
             f'{at_least(t["spent"], t["unpriced"], t["calls"])}', "routed") for t in d["by_task"]]
    return card("Task types", bar_rows(rows, "task-share")
                + '<p class="muted">As classified when each prompt was routed.</p>', "tasks")


def _reliability(d: dict[str, Any]) -> str:
    return card("Fallbacks, escalations and cache", '<div class="grid">'
                + figure("Fallbacks", f'<span data-figure="fallbacks">{d["fallbacks"]}</span>',
                         f"{pct(d['fallback_rate'])} of turns went to another tier")
                + figure("Escalations",
                         f'<span data-figure="escalations">{d["escalations"]}</span>',
                         f"{pct(d['escalation_rate'])} of turns re-asked a tier up "
                         "(cascade or ctrl+e; a planned `compare` is not one)")
                + figure("Cache hits", f'<span data-figure="cache_hits">{d["cache_hits"]}</span>',
                         f"{pct(d['cache_hit_rate'])} of turns answered for $0")
                + figure("Errors", f'<span data-figure="errors">{d["errors"]}</span>',
                         f"{d['cancelled']} cancelled, {d['truncated']} truncated, "
                         f"{d['estimated']} with estimated usage")
                + "</div>", "reliability")


def _satisfaction(d: dict[str, Any]) -> str:
    sat = d["satisfaction"]
    if not sat:
        return card("Verdicts", '<p class="muted">No verdicts yet: press ctrl+e after an '
                    "answer in the console, or run <code>routedeck review</code>.</p>",
                    "verdicts")
    bars = bar_rows([(m, s["rate"], f'{pct(s["rate"])} satisfied of {s["verdicts"]}', "routed")
                     for m, s in sat.items()], "satisfaction")
    rows = table(["model", "verdicts", "cheap was enough", "tie", "premium was better"],
                 ([esc(m), str(s["verdicts"]), str(s["cheap_enough"]), str(s["tie"]),
                   str(s["premium_better"])] for m, s in sat.items()),
                 numeric={1, 2, 3, 4}, table_id="verdict-table")
    return card("Verdicts and satisfaction per model", bars + rows
                + '<p class="muted">Satisfied: the answer given was enough, or as good as '
                "premium's.</p>", "verdicts")


def _models(d: dict[str, Any]) -> str:
    rows = ([esc(k), f"{b['calls']:,}", f"{b['errors']:,}", f"{b['input_tokens']:,}",
             f"{b['output_tokens']:,}",
             "-" if b["mean_latency_s"] is None else f"{b['mean_latency_s']:.2f} s",
             at_least(b["spent"], b["unpriced"], b["calls"])]
            for k, b in d["by_model"].items())
    return card("Models", table(["model", "calls", "errors", "tokens in", "tokens out",
                                 "latency", "spent"], rows, numeric={1, 2, 3, 4, 5, 6},
                                table_id="model-table"), "models")


def _prices_seen(d: dict[str, Any]) -> str:
    if not d["prices_seen"]:
        return ""
    rows = ([esc(p["model"]),
             esc(p["source"]) if p["source"] else '<span class="unknown">unknown price</span>',
             money(p["input_per_mtok"]), money(p["output_per_mtok"]), f"{p['calls']:,}",
             esc(when(p["first_at"])), esc(when(p["last_at"]))]
            for p in d["prices_seen"])
    return card("Prices the calls were recorded with",
                table(["model", "source", "input / 1M", "output / 1M", "calls", "first",
                       "last"], rows, numeric={2, 3, 4}, table_id="prices-seen"), "prices")
