"""Prompt files: JSON Lines with a ``prompt`` field, or plain text with one prompt a line.

Read by ``audit``, ``eval``, ``compare`` and the console's ``--play``. Bad lines (undecodable
bytes, NULs, malformed JSON) are reported with their line number and the rest go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


