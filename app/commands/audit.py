"""``routedeck audit FILE``: route every prompt of a file and summarise where they would go.

The text summary, ``--json --summary`` and the ``--html`` page are all renderings of one
:class:`app.core.evaluation.audit.AuditTally`; ``--json`` alone keeps printing one decision
per input row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app.commands.common import config_file_of, load_or_exit, warn_bad
from app.core.rows import BadRow, read_rows

if TYPE_CHECKING:
    from app.core.config.settings import Settings
    from app.core.evaluation.audit import AuditTally


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input row, in order.")
@click.option("--summary", is_flag=True,
              help="With --json: print the summary as one JSON object instead of the rows.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the summary as one self-contained HTML page to FILE.")
@click.option("--strategy", type=click.Choice(["learned", "rules"]), help="Override [router] strategy.")
@click.pass_context
def audit(ctx: click.Context, file: Path, as_json: bool, summary: bool, html_file: str | None,
          strategy: str | None) -> None:
    """Route every prompt in FILE (JSONL with a 'prompt' field, CSV with a prompt column, or
    one prompt a line).

    Nothing is sent: costs are projections from estimated tokens at the tiers' prices.
    """
    if summary and not as_json:
        raise click.UsageError("--summary goes with --json")
    overrides = {"router": {"strategy": strategy}} if strategy else None
    settings = load_or_exit(config_file_of(ctx), overrides)
    from app.commands.common import stored_memory
    from app.commands.route import decision_row
    from app.core.evaluation.audit import AuditTally
    from app.core.routing.policy import route

    memory = stored_memory(settings)
    tally = AuditTally([t.name for t in settings.tiers], source=str(file))
    rows_out = as_json and not summary
    out = sys.stdout
    show_bar = not as_json and file.stat().st_size > 200_000 and sys.stderr.isatty()
    total_lines = _count_lines(file) if show_bar else 0
    bar_ctx = click.progressbar(length=total_lines, label="routing", file=sys.stderr) if show_bar else None
    last_line = 0
    bar = bar_ctx.__enter__() if bar_ctx else None
    try:
        for row in read_rows(file):
            if isinstance(row, BadRow):
                tally.bad_rows += 1
                warn_bad(row, file)
                continue
            d = route(row.prompt, settings, memory=memory)
            tally.add(row.id, row.prompt, d)
            if bar is not None and row.line - last_line >= 500:
                bar.update(row.line - last_line)
                last_line = row.line
            if rows_out:
                out.write(json.dumps(decision_row(row.id, d), ensure_ascii=False) + "\n")
    finally:
        if bar_ctx is not None:
            bar_ctx.__exit__(None, None, None)
    if tally.bad_rows and not tally.prompts:
        # Nothing was routed: a summary of zero prompts would read as a clean run.
        click.echo(f"error: none of the {tally.bad_rows} row(s) of {file} could be read as a "
                   "prompt (see the messages above); nothing was routed", err=True)
        sys.exit(1)
    data = audit_data(tally, settings) if (summary or html_file or not as_json) else None
    if html_file and data is not None:
        _write_html(html_file, data)
    if rows_out:
        if tally.bad_rows:
            click.echo(f"{tally.bad_rows} row(s) skipped (see messages above)", err=True)
    elif as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif data is not None:
        _text(data)


def _count_lines(path: Path, limit: int = 256 << 20) -> int:
    """Lines of ``path`` for the progress bar, read in pieces (memory stays flat) and only up
    to ``limit`` bytes: past that the bar is an estimate."""
    count, seen = 1, 0
    with path.open("rb") as fh:
        while seen < limit:
            block = fh.read(1 << 20)
            if not block:
                break
            seen += len(block)
            count += block.count(b"\n")
    return count


def audit_data(tally: AuditTally, settings: Settings) -> dict[str, Any]:
    """The summary every output of ``audit`` shows: the tally plus the policy it ran."""
    import time

    from app.core.ledger.summary import policy_in_force

    return {**tally.to_dict(), "policy": policy_in_force(settings), "generated_at": time.time()}


def _write_html(path: str, data: dict[str, Any]) -> None:
    from app.commands.html.audit_page import render_audit

    try:
        Path(path).write_text(render_audit(data), encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {path}: {exc.strerror}", err=True)
        sys.exit(1)
    click.echo(f"wrote the audit page to {path} (one file: open it in any browser)", err=True)


def _projected(p: dict[str, Any]) -> str:
    from app.core.ledger.money import format_usd

    if not p["unpriced"]:
        return format_usd(p["cost_usd"])
    return f"{format_usd(p['cost_usd'])}  (at least; {p['unpriced']} unpriced)"


def _text(data: dict[str, Any]) -> None:
    from app.core.ledger.money import format_usd

    n, bad = data["prompts"], data["bad_rows"]
    click.echo(f"{n} prompts routed from {data['source']}" + (f", {bad} skipped" if bad else ""))
    if not n:
        return
    click.echo("\nper tier")
    for t in data["per_tier"]:
        click.echo(f"  {t['tier']:<12} {t['prompts']:>7}  {t['share']:6.1%}")
    from app.core.routing.types import TASK_LABELS

    click.echo("\nper task type")
    width = max((len(TASK_LABELS.get(t["task_type"], t["task_type"])) for t in data["per_task"]),
                default=16)
    for t in data["per_task"]:
        label = TASK_LABELS.get(t["task_type"], t["task_type"])  # the words `route` uses
        click.echo(f"  {label:<{width}} {t['prompts']:>7}  {t['share']:6.1%}")
    cheap, premium = data["cheapest_tier"], data["premium_tier"]
    click.echo("\nprojected cost (estimated tokens, the tiers' prices from config or "
               "genai-prices)")
    click.echo(f"  routed          {_projected(data['routed'])}")
    click.echo(f"  always-{premium:<8} {_projected(data['always'][premium])}")
    click.echo(f"  always-{cheap:<8} {_projected(data['always'][cheap])}")
    if data["savings_vs_premium_usd"] is not None:
        click.echo(f"  savings vs always-{premium}: {format_usd(data['savings_vs_premium_usd'])} "
                   f"({data['savings_vs_premium_pct']:.1f}%)")
    else:
        click.echo(f"  savings vs always-{premium}: ? (some prices are unknown)")
