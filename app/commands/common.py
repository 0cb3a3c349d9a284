"""Helpers shared by subcommands: loading settings with friendly errors, reading prompt files."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from app.core.config.errors import ConfigError
from app.core.config.settings import Settings, load_settings

EXIT_CONFIG = 2


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
    from app.commands.config import permission_warnings
    from app.core.config import paths

    for warning in permission_warnings(paths.resolve_config_file(config_file)):
        click.echo(f"warning: {warning}", err=True)


def prompt_or_stdin(prompt: str | None) -> str:
    """The PROMPT argument, or stdin when it is piped; a usage error when there is neither
    or the prompt is blank (a blank prompt is never sent or routed)."""
    if prompt is None:
        if sys.stdin.isatty():
            raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("the prompt is empty")
    return prompt


def config_file_of(ctx: click.Context) -> str | None:
    root = ctx.find_root()
    return (root.obj or {}).get("config_file") if root.obj else None


@dataclass(frozen=True)
class InputRow:
    line: int
    id: str
    prompt: str
    data: dict[str, Any]


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str


def read_rows(path: Path) -> Iterator[InputRow | BadRow]:
    """Rows of a JSON Lines file with a ``prompt`` field, or a text file of one prompt a line.

    Undecodable bytes, NULs and malformed JSON are reported per line; other lines go on.
    """
    jsonl: bool | None = None
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadRow(lineno, f"not valid UTF-8 (byte {exc.start})")
                continue
            if "\x00" in text:
                yield BadRow(lineno, "contains NUL bytes (binary data?)")
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            if jsonl is None:
                jsonl = text.lstrip().startswith("{")
            if not jsonl:
                yield InputRow(lineno, str(lineno), text, {})
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield BadRow(lineno, f"malformed JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                yield BadRow(lineno, "no string 'prompt' field")
                continue
            rid = obj.get("id")
            yield InputRow(lineno, str(rid) if rid is not None else str(lineno), obj["prompt"], obj)


def warn_bad(bad: BadRow, path: Path) -> None:
    click.echo(f"{path}:{bad.line}: skipped: {bad.problem}", err=True)
