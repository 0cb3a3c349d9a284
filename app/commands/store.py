"""``routedeck store``: where the ledger lives, and moving a local ledger into the team's.

``store info`` says which store the config names (the SQLite file, or ``[store] url``), its
schema version and how many rows each table holds. ``store copy --to URL`` copies the local
SQLite ledger (sessions, messages, requests, verdicts, compare pairs) into another store,
usually the team PostgreSQL: rows already there are skipped, so running it twice changes
nothing the second time. A URL is only ever shown without its password, and a password is
never read from one: it comes from the variable ``[store] password_env`` names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.commands.common import config_file_of, load_or_exit


@click.group()
def store() -> None:
    """The ledger's store: info, and copying a local ledger into a team store."""


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _open_target(settings: Any, target: str) -> Any:
    from app.core.config.urls import is_postgres_url, url_password
    from app.core.ledger.store import SQLiteStore, open_store

    if "://" in target:
        if not is_postgres_url(target):
            _fail("--to takes a postgresql://user@host/db URL or a SQLite file path")
        if url_password(target):
            _fail(f"--to must not hold a password; export it in ${settings.store.password_env}"
                  " ([store] password_env) instead")
        cfg = settings.store.model_copy(update={"url": target})
        return open_store(settings.model_copy(update={"store": cfg}))
    return SQLiteStore.open(Path(target), store_prompts=settings.privacy.store_prompts)


@store.command()
@click.option("--to", "target", metavar="URL|PATH",
              help="The store to copy into (default: [store] url).")
@click.option("--from", "source", metavar="PATH", type=click.Path(dir_okay=False),
              help="The SQLite ledger to copy (default: the local one in the data dir).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def copy(ctx: click.Context, target: str | None, source: str | None, as_json: bool) -> None:
    """Copy the local ledger into the team store, skipping rows already there."""
    settings = load_or_exit(config_file_of(ctx))
    from app.core.config.urls import redact_url
    from app.core.ledger.identity import Identity
    from app.core.ledger.store import SQLiteStore, StoreError, default_path
    from app.core.ledger.transfer import copy_ledger

    target = target or settings.store.url
    if not target:
        _fail("say where to copy: --to postgresql://user@host/db (or set [store] url)")
    src_path = Path(source) if source else default_path()
    if not src_path.is_file():
        _fail(f"no local ledger at {src_path} (nothing to copy)")
    identity = Identity.current(settings.store.user, settings.store.host)
    try:
        src = SQLiteStore.open(src_path, identity=identity)
    except StoreError as exc:
        _fail(str(exc))
    try:
        try:
            dst = _open_target(settings, target)
        except StoreError as exc:
            _fail(str(exc))
        if dst.location == src.location:
            _fail("--to names the ledger being copied; nothing to do")
        with dst:
            def progress(table: str, n: int) -> None:
                if not as_json and sys.stderr.isatty():
                    click.echo(f"\r{table}: {n:,} row(s)", err=True, nl=False)

            try:
                result = copy_ledger(src, dst, progress)
            except StoreError as exc:
                _fail(f"{exc} (rows copied so far stay; run the copy again to finish)")
    finally:
        src.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if sys.stderr.isatty():
        click.echo("", err=True)
    click.echo(f"copied {src.location} -> {redact_url(result.target)}")
    width = max(len(t) for t in result.tables)
    for name, t in result.tables.items():
        notes = []
        if t.orphans:
            notes.append(f"{t.orphans} left out (they point at rows the source lacks)")
        if t.unlinked:
            notes.append(f"{t.unlinked} link(s) to missing rows cleared")
        extra = f"  ({'; '.join(notes)})" if notes else ""
        click.echo(f"  {name:<{width}}  {t.copied:>8,} copied  {t.present:>8,} already there"
                   f"  -> {result.target_counts.get(name, 0):,} in the target{extra}")
    if result.copied == 0:
        click.echo("nothing new: every row was already in the target")


@store.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Which store the config names, its schema version and its row counts."""
    settings = load_or_exit(config_file_of(ctx))
    from app.core.ledger.store import StoreError, open_store

    try:
        with open_store(settings) as s:
            data = {"backend": s.backend, "location": s.location,
                    "schema_version": s.schema_version, "user": s.identity.user,
                    "host": s.identity.host, "rows": s.counts()}
    except StoreError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"backend   {data['backend']}")
    click.echo(f"location  {data['location']}")
    click.echo(f"schema    version {data['schema_version']}")
    click.echo(f"writes as {data['user']} on {data['host']}")
    for table, n in data["rows"].items():
        click.echo(f"  {table:<14}{n:>10,}")
