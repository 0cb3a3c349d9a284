"""``routedeck compare FILE`` runs prompts on two tiers; ``routedeck review`` judges the pairs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from app.commands.common import (
    EXIT_CONFIG,
    BadRow,
    config_file_of,
    load_or_exit,
    read_rows,
    warn_bad,
)


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
    from app.core.conversation.compare import estimate_spend, parse_tiers, run_pairs
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
    except StoreError as exc:
        click.echo(f"cannot open the ledger: {exc}", err=True)
        sys.exit(1)
    session_id = store.new_session(f"compare {file.name}")
    failed: list[str] = []
    spent = [0.0]
    with click.progressbar(length=len(prompts), label="comparing", file=sys.stderr) as bar:
        def done(res) -> None:
            for fin in (res.a, res.b):
                spent[0] += fin.cost_usd or 0.0
                if fin.status != "ok":
                    failed.append(f"{fin.tier}: {fin.message or fin.status}")
            bar.update(1)

        try:
            results = asyncio.run(run_pairs(settings, prompts, tiers, store, session_id,
                                            concurrency, done))
        except KeyboardInterrupt:
            click.echo("\ninterrupted; pairs finished so far are stored.", err=True)
            sys.exit(130)
        finally:
            store.close()
    pairs = sum(1 for r in results if r.pair_id is not None)
    click.echo(f"stored {pairs} pair(s) in session {session_id}; spent {format_usd(spent[0])}.")
    from app.core.textsafe import inert

    for line in sorted(set(failed))[:10]:
        click.echo(inert(f"  failed: {line}"), err=True)  # server text: no raw escapes
    if pairs:
        click.echo(f"judge them with: routedeck review --session {session_id}")
    if failed and not pairs:
        sys.exit(1)


@click.command()
@click.option("--session", "session_id", type=int,
              help="Only the pairs of this session (default: every pair awaiting a verdict).")
@click.pass_context
def review(ctx: click.Context, session_id: int | None) -> None:
    """Judge stored answer pairs side by side, one by one (verdict keys 1/2/3, n skips, q quits)."""
    settings = load_or_exit(config_file_of(ctx))
    from app.core.ledger.store import StoreError, open_store

    try:
        store = open_store(settings)
    except StoreError as exc:
        click.echo(f"cannot open the ledger: {exc}", err=True)
        sys.exit(1)
    try:
        pairs = store.compare_pairs(session_id=session_id, pending_only=True)
        if not pairs:
            where = f" in session {session_id}" if session_id is not None else ""
            click.echo(f"No answer pairs are waiting for a verdict{where}. Make some with "
                       "`routedeck compare FILE`, or press ctrl+e after an answer in the console.")
            return
        from app.tui.review import ReviewApp

        result = ReviewApp(settings, store, pairs).run()
    finally:
        store.close()
    if result is not None:
        click.echo(result.summary())
