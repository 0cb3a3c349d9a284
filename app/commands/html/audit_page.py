"""``routedeck audit FILE --html OUT``: what routing would do to a prompt log never sent,
rendered from the dict ``audit --json --summary`` prints.

Prompt text is the log owner's data and may hold anything, markup included: it is shown
escaped, flattened and cut short (the core already truncated it), never as HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.commands.html.page import (
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


def _projection(p: dict[str, Any], key: str) -> str:
    value = money(p["cost_usd"], key)
    if p["unpriced"]:
        value = f"at least {value}"
    return value


def _unpriced_note(p: dict[str, Any], default: str) -> str:
    if p["unpriced"]:
        return f'<span class="unknown">{p["unpriced"]} prompt(s) with unknown price</span>'
    return default


def render_audit(data: dict[str, Any]) -> str:
    name = Path(data["source"]).name or data["source"]
    header = (f"<h1>RouteDeck audit: {esc(name)}</h1>"
              f"<p>{data['prompts']:,} prompts routed"
              + (f", {data['bad_rows']} line(s) skipped (unreadable, or no prompt)"
                 if data["bad_rows"] else "")
              + f" &middot; nothing was sent</p><p>Generated {esc(when(data['generated_at']))}"
              "</p>")
    if not data["prompts"]:
        body = card("No prompts", "<p>The file held no prompt to route (JSON Lines with a "
                    "<code>prompt</code> field, or one prompt a line).</p>", "empty")
    else:
        body = "".join((_headline(data), _costs(data), _curve(data), _tiers(data),
                        _tasks(data), _top(data)))
    body += policy_card(data["policy"], "Projected costs use the router's token estimate "
                        f"(about 4 characters a token) and {data['policy']['expected_output_tokens']}"
                        " output tokens a prompt at these prices.")
    return page(f"RouteDeck audit: {name}", header, body,
                "The figures on this page are those of <code>routedeck audit FILE --json "
                "--summary</code> for the same file and config.")


def _headline(d: dict[str, Any]) -> str:
    cheap, premium = d["cheapest_tier"], d["premium_tier"]
    if d["savings_vs_premium_usd"] is None:
        saved = money(None, "savings_vs_premium_usd")
        saved_note = '<span class="unknown">unknown: some prices are unknown</span>'
    else:
        saved = (money(d["savings_vs_premium_usd"], "savings_vs_premium_usd")
                 + f' <span data-figure="savings_vs_premium_pct">'
                 f'({d["savings_vs_premium_pct"]:.1f}%)</span>')
        saved_note = f"vs always-{esc(premium)}"
    return ('<section class="grid" id="headline" aria-label="headline figures">'
            + figure("Routed (projected)", _projection(d["routed"], "routed"),
                     _unpriced_note(d["routed"], "each prompt on the tier the router picks"))
            + figure(f"Always-{premium}", _projection(d["always"][premium], "premium"),
                     _unpriced_note(d["always"][premium], "every prompt on the top tier"))
            + figure(f"Always-{cheap}", _projection(d["always"][cheap], "cheap"),
                     _unpriced_note(d["always"][cheap], "every prompt on the cheapest tier"))
            + figure("Saving", saved, saved_note, "saved")
            + figure("Prompts", f'<span data-figure="prompts">{d["prompts"]:,}</span>',
                     f"{len(d['per_task'])} task type(s)")
            + "</section>")


def _costs(d: dict[str, Any]) -> str:
    premium = d["premium_tier"]
    rows = [("routed", d["routed"], "routed")]
    rows += [(f"always-{t}", d["always"][t], "premium" if t == premium else "cheap")
             for t in d["tiers"]]
    top = max((p["cost_usd"] for _, p, _ in rows), default=0.0) or 1.0
    bars = bar_rows([(label, p["cost_usd"] / top,
                      ("at least " if p["unpriced"] else "") + money(p["cost_usd"]), cls)
                     for label, p, cls in rows], "cost-bars")
    return card("Projected cost: routed vs one tier for everything", bars, "costs")


def _curve(d: dict[str, Any]) -> str:
    s = d["series"]
    cheap, premium = d["cheapest_tier"], d["premium_tier"]
    chart = line_chart(
        [p["prompt"] for p in s],
        [("premium", f"always-{premium}", [p["premium"] for p in s]),
         ("routed", "routed", [p["routed"] for p in s]),
         ("cheap", f"always-{cheap}", [p["cheap"] for p in s])],
        ("prompt 1", f"prompt {s[-1]['prompt']:,}" if s else ""),
        "cost-curve", "Cumulative projected cost over the log", shade_between=(0, 1))
    return card("Cumulative projected cost, prompt by prompt", chart
                + '<p class="muted">In file order. The shaded gap is the saving against the '
                "top tier; the dotted line is the floor of sending everything to the "
                "cheapest tier.</p>", "curve")


def _tiers(d: dict[str, Any]) -> str:
    rows = [(t["tier"], t["share"], f'{plural(t["prompts"], "prompt")} &middot; {pct(t["share"])}', "")
            for t in d["per_tier"]]
    return card("Where the prompts would go", bar_rows(rows, "tier-share"), "tiers")


def _tasks(d: dict[str, Any]) -> str:
    rows = [(t["task_type"], t["share"], f'{t["prompts"]:,} &middot; {pct(t["share"])}',
             "routed") for t in d["per_task"]]
    return card("Task types", bar_rows(rows, "task-share"), "tasks")


def _top(d: dict[str, Any]) -> str:
    premium = d["premium_tier"]
    rows = ([esc(p["id"]), f'<div class="prompt">{esc(p["prompt"])}</div>'
             + (f'<div class="muted">{p["prompt_chars"]:,} characters</div>'
                if p["prompt_chars"] > len(p["prompt"]) else ""),
             esc(p["task_type"]), f'{esc(p["tier"])}<div class="muted">{esc(p["model"])}</div>',
             money(p["routed_cost_usd"]), money(p["premium_cost_usd"]),
             f'<span class="muted">{esc(p["reason"])}</span>']
            for p in d["top_prompts"])
    html_table = table(["id", "prompt", "task", "routed to", "routed cost",
                        f"on {premium}", "why"], rows, numeric={4, 5}, table_id="top-prompts",
                       wrap={1, 6})
    return card(f"The {len(d['top_prompts'])} most expensive prompts on {premium}",
                html_table + f'<p class="muted">Ranked by projected cost on {esc(premium)}; '
                f"{esc(format_usd(None))} means the price is unknown.</p>", "top")
