"""Commands that start a Textual app (the console itself is started by ``app.cli``).

This module is the composition root of the two faces: the headless commands' helpers (config
loading with friendly errors) and the Textual apps meet here, so neither ``app.commands`` nor
``app.tui`` has to import the other.
"""

from __future__ import annotations

import sys

import click

from app.commands.common import ROW_ID, config_file_of, load_or_exit


@click.command()
@click.option("--session", "session_id", type=ROW_ID,
              help="Only the pairs of this session (default: every pair awaiting a verdict).")
@click.option("--blind/--no-blind", default=None,
              help="Show the two answers as A and B in random order, tiers hidden until the "
                   "verdict (default: [ui] blind_compare).")
@click.pass_context
def review(ctx: click.Context, session_id: int | None, blind: bool | None) -> None:
    """Judge stored answer pairs side by side, one by one (verdict keys 1/2/3, n skips, q quits)."""
    settings = load_or_exit(config_file_of(ctx))
    from app.core.ledger.store import StoreError, open_store
    from app.tui.review import ReviewApp

    try:
        store = open_store(settings)
    except StoreError as exc:
        click.echo(f"cannot open the ledger: {exc}", err=True)
        sys.exit(1)
    try:
        try:
            pairs = store.compare_pairs(session_id=session_id, pending_only=True)
        except StoreError as exc:  # a damaged or locked ledger: said, never a traceback
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        if not pairs:
            where = f" in session {session_id}" if session_id is not None else ""
            click.echo(f"No answer pairs are waiting for a verdict{where}. Make some with "
                       "`routedeck compare FILE`, or press ctrl+e after an answer in the console.")
            return
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # Without a terminal the screen goes nowhere and no key ever comes: it would wait
            # for ever (from a script, a pipe, cron).
            click.echo(f"error: review is interactive and needs a terminal; {len(pairs)} "
                       "pair(s) wait for a verdict (`routedeck export --labels` reads the "
                       "judged ones)", err=True)
            sys.exit(2)
        result = ReviewApp(settings, store, pairs,
                           settings.ui.blind_compare if blind is None else blind).run()
    finally:
        store.close()
    if result is not None:
        click.echo(result.summary())
