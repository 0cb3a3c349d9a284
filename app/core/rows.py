"""Prompt files: JSON Lines with a ``prompt`` field, CSV with a prompt column, or plain text
with one prompt a line.

Read by ``audit``, ``eval``, ``compare`` and the console's ``--play``. Bad lines (undecodable
bytes, NULs, malformed or too deeply nested JSON, a line longer than :data:`MAX_LINE_BYTES`)
are reported with their line number and the rest go on.

Reading is bounded, so memory stays flat whatever the file is: a line is read at most
:data:`MAX_LINE_BYTES` at a time, the rest of an over-long line is skipped in pieces, and a
line that goes on past :data:`MAX_SKIP_BYTES` (``/dev/zero``, a sparse file of a gigabyte
with no newline) ends the reading there, said as the last bad row. Text is made encodable
on the way in (:func:`app.core.textsafe.clean`): a ``"\\ud800"`` in a prompt or an id is
replaced, never carried to the store or the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from app.core.textsafe import clean

MAX_LINE_BYTES = 1 << 20
MAX_SKIP_BYTES = 64 << 20
_CHUNK = 1 << 20


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


def bounded_lines(fh: IO[bytes], max_line: int = MAX_LINE_BYTES,
                  max_skip: int = MAX_SKIP_BYTES) -> Iterator[tuple[int, bytes | str]]:
    """(line number, the line's bytes) for each line of ``fh``, or (number, problem) for a
    line over ``max_line`` bytes (then skipped; reading stops for good when one goes on
    past ``max_skip`` bytes)."""
    lineno = 0
    while True:
        raw = fh.readline(max_line + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) <= max_line or raw.endswith(b"\n"):
            yield lineno, raw
            continue
        skipped = len(raw)
        while not raw.endswith(b"\n") and skipped <= max_skip:
            raw = fh.readline(_CHUNK)
            if not raw:
                break
            skipped += len(raw)
        if skipped > max_skip:
            yield lineno, (f"line longer than {max_skip >> 20} MiB (binary data, or no line "
                           "ends?); the rest of the file is not read")
            return
        yield lineno, f"line longer than {max_line >> 10} KiB, skipped"


def read_rows(path: Path) -> Iterator[InputRow | BadRow]:
    """Rows of a JSON Lines file with a ``prompt`` field, a ``.csv`` file with a header and a
    prompt column, or a text file of one prompt a line.

    Undecodable bytes, NULs, malformed or too deeply nested JSON and over-long lines are
    reported per line; other lines go on.
    """
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path)
        return
    jsonl: bool | None = None
    with path.open("rb") as fh:
        for lineno, raw in bounded_lines(fh):
            if isinstance(raw, str):
                yield BadRow(lineno, raw)
                continue
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
                yield InputRow(lineno, str(lineno), clean(text), {})
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield BadRow(lineno, f"malformed JSON ({exc.msg} at column {exc.colno})")
                continue
            except RecursionError:
                yield BadRow(lineno, "JSON nested too deeply")
                continue
            except ValueError as exc:  # e.g. an integer of more digits than Python reads
                yield BadRow(lineno, f"malformed JSON ({exc})"[:200])
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
                yield BadRow(lineno, "no string 'prompt' field")
                continue
            if not obj["prompt"].strip():
                # `route` and `ask` refuse an empty prompt; counted here it would be a
                # "greeting" with a cost in every share and total.
                yield BadRow(lineno, "empty 'prompt'")
                continue
            rid = obj.get("id")
            yield InputRow(lineno, clean(str(rid)) if rid is not None else str(lineno),
                           clean(obj["prompt"]), obj)


# The column a CSV export keeps its prompts in, by the names logs use, first match wins.
PROMPT_COLUMNS = ("prompt", "text", "content", "input", "question", "message")


def _csv_rows(path: Path) -> Iterator[InputRow | BadRow]:
    """A CSV log (an export from a proxy or a spreadsheet): its header names the prompt
    column (:data:`PROMPT_COLUMNS`) and optionally ``id``; a quoted prompt may hold line
    breaks. Read as lines would be, the header was routed as a prompt and every row kept its
    other columns."""
    import csv

    csv.field_size_limit(MAX_LINE_BYTES)  # a field as long as a line may be, no longer
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            fields = [f for f in (reader.fieldnames or []) if f]
        except (csv.Error, UnicodeDecodeError) as exc:
            yield BadRow(1, f"the CSV header cannot be read ({exc})"[:200])
            return
        by_name = {f.strip().lower(): f for f in fields}
        column = next((by_name[c] for c in PROMPT_COLUMNS if c in by_name), None)
        if column is None:
            yield BadRow(1, f"a CSV with no prompt column (columns: {', '.join(fields)[:120]}; "
                            f"name one {' or '.join(PROMPT_COLUMNS[:2])})")
            return
        id_column = by_name.get("id")
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                yield BadRow(reader.line_num + 1, f"not valid UTF-8 (byte {exc.start}); the rest "
                                                  "of the file is not read")
                return
            except csv.Error as exc:
                yield BadRow(reader.line_num, f"malformed CSV ({exc})"[:200])
                continue
            text = rec.get(column) or ""
            if "\x00" in text:
                yield BadRow(reader.line_num, "contains NUL bytes (binary data?)")
                continue
            if not text.strip():
                yield BadRow(reader.line_num, f"empty '{column}'")
                continue
            rid = rec.get(id_column) if id_column else None
            yield InputRow(reader.line_num, clean(rid) if rid else str(reader.line_num),
                           clean(text), {k: v for k, v in rec.items() if k})
