"""``routedeck audit FILE``: route every prompt of a file and summarise where they would go."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from app.commands.common import config_file_of, load_or_exit, warn_bad
from app.core.rows import BadRow, read_rows


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input row, in order.")
@click.option("--strategy", type=click.Choice(["learned", "rules"]), help="Override [router] strategy.")
@click.pass_context
def audit(ctx: click.Context, file: Path, as_json: bool, strategy: str | None) -> None:
    """Route every prompt in FILE (JSONL with a 'prompt' field, or one prompt a line)."""
    overrides = {"router": {"strategy": strategy}} if strategy else None
    settings = load_or_exit(config_file_of(ctx), overrides)
    from app.commands.route import decision_row
    from app.core.ledger.money import format_usd
    from app.core.routing.policy import route

    tiers = [t.name for t in settings.tiers]
    per_tier: Counter[str] = Counter()
    per_task: Counter[str] = Counter()
    routed_cost = 0.0
    totals = dict.fromkeys(tiers, 0.0)
    unpriced = 0
    bad = 0
    n = 0
    out = sys.stdout
    rows = read_rows(file)
    show_bar = not as_json and file.stat().st_size > 200_000 and sys.stderr.isatty()
    total_lines = file.read_bytes().count(b"\n") + 1 if show_bar else 0
    bar_ctx = click.progressbar(length=total_lines, label="routing", file=sys.stderr) if show_bar else None
    last_line = 0
    bar = bar_ctx.__enter__() if bar_ctx else None
    try:
        for row in rows:
            if isinstance(row, BadRow):
                bad += 1
                warn_bad(row, file)
                continue
            d = route(row.prompt, settings)
            n += 1
            if bar is not None and row.line - last_line >= 500:
                bar.update(row.line - last_line)
                last_line = row.line
            if as_json:
                out.write(json.dumps(decision_row(row.id, d), ensure_ascii=False) + "\n")
                continue
            per_tier[d.tier] += 1
            per_task[d.task_type] += 1
            if d.est_cost_usd is None:
                unpriced += 1
            else:
                routed_cost += d.est_cost_usd
            for e in d.estimates:
                totals[e.tier] += e.cost_usd or 0.0
    finally:
        if bar_ctx is not None:
            bar_ctx.__exit__(None, None, None)
    if as_json:
        if bad:
            click.echo(f"{bad} row(s) skipped (see messages above)", err=True)
        return
    click.echo(f"{n} prompts routed from {file}" + (f", {bad} skipped" if bad else ""))
    if not n:
        return
    click.echo("\nper tier")
    for t in tiers:
        click.echo(f"  {t:<12} {per_tier[t]:>7}  {per_tier[t] / n:6.1%}")
    click.echo("\nper task type")
    for task, k in per_task.most_common():
        click.echo(f"  {task:<16} {k:>7}  {k / n:6.1%}")
    premium, cheap = totals[tiers[-1]], totals[tiers[0]]
    click.echo("\nprojected cost (estimated tokens, current prices)")
    click.echo(f"  routed          {format_usd(routed_cost)}" + (f"  (at least; {unpriced} unpriced)" if unpriced else ""))
    click.echo(f"  always-{tiers[-1]:<8} {format_usd(premium)}")
    click.echo(f"  always-{tiers[0]:<8} {format_usd(cheap)}")
    if premium > 0:
        click.echo(f"  savings vs always-{tiers[-1]}: {format_usd(premium - routed_cost)} "
                   f"({(premium - routed_cost) / premium:.1%})")
