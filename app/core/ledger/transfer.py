"""Copy a ledger into another store (``routedeck store copy``): a local SQLite file into the
team's PostgreSQL, typically.

Nothing is lost and nothing doubles, however often it runs: every row travels with its
``uid`` and an insert whose uid the target already holds is skipped (its id is still looked
up, so the rows that point at it link up). Ids differ between databases, so references
(message -> session, verdict -> requests, ...) are re-pointed through the ids the target
gave. Rows keep their own times and who/where; rows written before stores recorded who and
where are stamped with the copying user and host, since a local ledger is one person's on
one machine.

Tables go parents first, in batches of one transaction each: a copy cut short (Ctrl+C, lost
connection) leaves whole batches behind, and the next run carries on where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.ledger.base import TABLES, Store

BATCH = 1_000

# Columns that point at another table's rows: table -> {column: referenced table}.
_REFS: dict[str, dict[str, str]] = {
    "sessions": {},
    "requests": {"session_id": "sessions"},
    "messages": {"session_id": "sessions", "request_id": "requests"},
    "verdicts": {"session_id": "sessions", "answer_request_id": "requests",
                 "compared_request_id": "requests", "kept_request_id": "requests"},
    "compare_pairs": {"session_id": "sessions", "answer_request_id": "requests",
                      "compared_request_id": "requests"},
}
_WHO = {"sessions", "requests", "verdicts", "compare_pairs"}
# Links a row cannot exist without; a dangling one of these means the row is not copied.
_REQUIRED = {"messages": ("session_id",),
             "verdicts": ("answer_request_id", "compared_request_id"),
             "compare_pairs": ("answer_request_id", "compared_request_id")}


@dataclass
class TableCopy:
    table: str
    seen: int = 0
    copied: int = 0  # new in the target
    present: int = 0  # already there (an earlier copy)
    orphans: int = 0  # pointed at a row the source does not have: left out, and counted
    unlinked: int = 0  # an optional link to a missing row, cleared


@dataclass
class CopyResult:
    source: str
    target: str
    tables: dict[str, TableCopy] = field(default_factory=dict)
    target_counts: dict[str, int] = field(default_factory=dict)

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target,
                "tables": {k: vars(v) for k, v in self.tables.items()},
                "copied": self.copied, "target_counts": self.target_counts}


def copy_ledger(src: Store, dst: Store,
                progress: Callable[[str, int], None] | None = None) -> CopyResult:
    """Copy every row of ``src`` that ``dst`` lacks; returns what was done, per table."""
    result = CopyResult(src.location, dst.location)
    ids: dict[str, dict[int, int]] = {t: {} for t in TABLES}
    for table in ("sessions", "requests", "messages", "verdicts", "compare_pairs"):
        report = result.tables.setdefault(table, TableCopy(table))
        batch: list[dict[str, Any]] = []
        for row in src.iter_rows(table):
            batch.append(dict(row))
            if len(batch) >= BATCH:
                _flush(dst, table, batch, ids, report, src)
                batch = []
                if progress is not None:
                    progress(table, report.seen)
        _flush(dst, table, batch, ids, report, src)
        if progress is not None:
            progress(table, report.seen)
    result.target_counts = dst.counts()
    return result


def _flush(dst: Store, table: str, rows: list[dict[str, Any]], ids: dict[str, dict[int, int]],
           report: TableCopy, src: Store) -> None:
    if not rows:
        return
    with dst.transaction():
        for row in rows:
            report.seen += 1
            old_id = row.pop("id")
            values = _relinked(table, row, ids, report)
            if values is None:
                report.orphans += 1
                continue
            if table in _WHO:
                values["user_name"] = values.get("user_name") or src.identity.user
                values["host_name"] = values.get("host_name") or src.identity.host
            new_id, inserted = dst.insert_row(table, values)
            ids[table][old_id] = new_id
            if inserted:
                report.copied += 1
            else:
                report.present += 1


def _relinked(table: str, row: dict[str, Any], ids: dict[str, dict[int, int]],
              report: TableCopy) -> dict[str, Any] | None:
    for column, target in _REFS[table].items():
        old = row.get(column)
        if old is None:
            continue
        new = ids[target].get(old)
        if new is None:
            if column in _REQUIRED.get(table, ()):
                return None
            report.unlinked += 1
        row[column] = new
    return row
