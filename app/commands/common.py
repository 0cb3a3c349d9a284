"""Helpers shared by subcommands: loading settings with friendly errors, prompt input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from app.core.config.errors import ConfigError
from app.core.config.loader import load_settings
from app.core.config.settings import Settings
from app.core.rows import BadRow

EXIT_CONFIG = 2
# Row ids the databases can hold: a larger --session is refused by click, in words.
ROW_ID = click.IntRange(1, 2**63 - 1)
MAX_STDIN_BYTES = 16 << 20


def load_or_exit(config_file: str | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings, or a readable message and exit code 2 — never a traceback.

    A config file that seems to hold a literal key and is readable by others gets one warning
    on stderr first (even when it has errors), whichever command loads it.
    """
    warn_config_permissions(config_file)
    try:
        return load_settings(config_file, overrides)
    except ConfigError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(EXIT_CONFIG)


def warn_config_permissions(config_file: str | None) -> None:
    from app.core.config import paths
    from app.core.config.loader import permission_warnings

    for warning in permission_warnings(paths.resolve_config_file(config_file)):
        click.echo(f"warning: {warning}", err=True)


def prompt_or_stdin(prompt: str | None) -> str:
    """The PROMPT argument, or stdin when it is piped; a usage error when there is neither
    or the prompt is blank (a blank prompt is never sent or routed)."""
    from app.core.textsafe import clean

    if prompt is None:
        if sys.stdin.isatty():
            raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")
        prompt = read_stdin()
    if not prompt.strip():
        raise click.UsageError("the prompt is empty")
    # An argument that was not valid UTF-8 arrives with lone surrogates: made encodable here.
    return clean(prompt)


def read_stdin(limit: int = MAX_STDIN_BYTES) -> str:
    """Piped stdin as text, read with a bound (``ask < /dev/zero`` must not fill the memory);
    bytes that are not UTF-8 become U+FFFD."""
    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1)
    if len(data) > limit:
        raise click.UsageError(f"the prompt on stdin is larger than {limit >> 20} MiB")
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def config_file_of(ctx: click.Context) -> str | None:
    root = ctx.find_root()
    return (root.obj or {}).get("config_file") if root.obj else None


def warn_bad(bad: BadRow, path: Path) -> None:
    click.echo(f"{path}:{bad.line}: skipped: {bad.problem}", err=True)


def stored_memory(settings: Settings) -> Any:
    """The user's judged prompts (the router's memory), so `route` and `audit` decide as the
    console does; None when there is no ledger yet (nothing is created just to read it)."""
    from app.core.ledger.store import StoreError, default_path, open_store

    if not settings.store.url and not default_path().exists():
        return None
    from app.core.evaluation.labels import verdict_memory

    try:
        with open_store(settings) as store:
            return verdict_memory(store, settings)
    except (StoreError, OSError) as exc:
        click.echo(f"warning: your verdicts are not used for this decision ({exc})", err=True)
        return None
