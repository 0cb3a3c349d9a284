"""``routedeck compare FILE``: run prompts on two tiers and store the pairs for ``review``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from app.commands.common import EXIT_CONFIG, config_file_of, load_or_exit, warn_bad
from app.core.rows import BadRow, read_rows


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tiers", "tiers_spec", help="Two tiers to compare, e.g. cheap,premium "
              "(default: the cheapest and the top tier).")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Prompts answered at the same time.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before spending.")
@click.pass_context
def compare(ctx: click.Context, file: Path, tiers_spec: str | None, concurrency: int,
            yes: bool) -> None:
    """Answer every prompt of FILE on two tiers and store both answers for `routedeck review`."""
    settings = load_or_exit(config_file_of(ctx))
    from app.core.calling.engine import offline_message
    from app.core.conversation.compare import PairResult, estimate_spend, parse_tiers, run_pairs
    from app.core.ledger.money import format_usd
    from app.core.ledger.store import StoreError, open_store

    try:
        tiers = parse_tiers(settings, tiers_spec)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for name in tiers:
        tier = settings.tier(name)
        if not settings.provider_for(tier).usable():
            click.echo(offline_message(settings, tier), err=True)
            sys.exit(EXIT_CONFIG)
    prompts: list[str] = []
    for row in read_rows(file):
        if isinstance(row, BadRow):
            warn_bad(row, file)
        elif row.prompt.strip():
            prompts.append(row.prompt)
    if not prompts:
        click.echo(f"{file}: no prompts to compare.", err=True)
        sys.exit(EXIT_CONFIG)
    est = estimate_spend(settings, prompts, tiers)
    cost = format_usd(est.usd) + (f" + {est.unpriced_calls} unpriced calls" if est.unpriced_calls else "")
    click.echo(f"{len(prompts)} prompts x 2 tiers ({tiers[0]} vs {tiers[1]}): "
               f"about {cost} (estimated)", err=True)
    if not yes and not click.confirm("Spend it?", default=False, err=True):
        click.echo("Nothing was sent.", err=True)
        return
    try:
        store = open_store(settings)
        session_id = store.new_session(f"compare {file.name}")
    except StoreError as exc:
        click.echo(f"error: cannot open the ledger: {exc}", err=True)
        sys.exit(1)
    problems: list[str] = []
    ledger: list[str] = []
    with click.progressbar(length=len(prompts), label="comparing", file=sys.stderr) as bar:
        def done(res: PairResult) -> None:
            if res.problem:
                short = " ".join(res.prompt.split())[:40]
                problems.append(f"{short!r}: {res.problem} (spent {format_usd(res.spent)}, "
                                "no pair stored)")
            bar.update(1)

        try:
            results = asyncio.run(run_pairs(settings, prompts, tiers, store, session_id,
                                            concurrency, done,
                                            lambda o: ledger.append(o.summary())))
        except KeyboardInterrupt:
            click.echo("\ninterrupted; pairs finished so far are stored.", err=True)
            sys.exit(130)
        finally:
            store.close()
    pairs = sum(1 for r in results if r.ok)
    spent = sum(r.spent for r in results)
    click.echo(f"stored {pairs} of {len(results)} pair(s) in session {session_id}; "
               f"spent {format_usd(spent)}.")
    from app.core.textsafe import inert

    for line in problems[:10]:
        click.echo(inert(f"  not stored: {line}"), err=True)  # server text: no raw escapes
    if len(problems) > 10:
        click.echo(f"  ... and {len(problems) - 10} more", err=True)
    for line in filter(None, ledger):
        click.echo(inert(f"warning: {line}"), err=True)
    if pairs:
        click.echo(f"judge them with: routedeck review --session {session_id}")
    if problems and not pairs:
        sys.exit(1)
