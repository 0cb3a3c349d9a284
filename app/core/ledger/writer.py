"""Writing attempts to the ledger so that none is lost without a word.

:class:`LedgerWriter` is the recorder the engine is given. Each attempt gets its uid before
the first try, so no retry can store it twice. When the store refuses a row (locked past the
busy timeout, disk full, an immutable or read-only file, a team database gone away), the row
is kept and tried again before the next one and when the writer closes; whatever still
cannot be written is then spooled to a file next to the ledger (``pending/``), which the next
program to open that store drains (:func:`drain_spool`). Only a row that can be neither
written nor spooled is lost, and :meth:`LedgerWriter.close` says so: the faces tell the user
(``ask`` on stderr, in ``--json`` and in its exit status; the console in a notice).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.ledger.base import Store
from app.core.ledger.identity import new_uid
from app.core.ledger.records import AttemptRecord
from app.core.textsafe import dumps

SPOOL_DIR = "pending"


class NotRecorded(Exception):
    """The store refused the row just now; it is kept and tried again later."""


@dataclass
class WriteOutcome:
    """What became of the rows the store refused at first."""

    retried: int = 0  # written by a later try
    spooled: int = 0  # in the spool file, for the next program to write
    lost: int = 0  # neither written nor spooled
    spool_file: Path | None = None
    problems: list[str] = field(default_factory=list)  # why, once each

    @property
    def clean(self) -> bool:
        return not (self.spooled or self.lost)

    def summary(self) -> str:
        """One sentence for the user ('' when every row was written)."""
        why = "; ".join(self.problems)
        if self.lost:
            return (f"{self.lost} call attempt(s) could NOT be recorded in the ledger, and "
                    f"their cost is not counted ({why})")
        if self.spooled:
            return (f"{self.spooled} call attempt(s) could not be written to the ledger yet "
                    f"({why}); they are kept in {self.spool_file} and written by the next "
                    "RouteDeck command that opens the ledger")
        return ""


def spool_key(store: Store) -> str:
    """Spool files name the store they belong to: rows never drain into another ledger."""
    return hashlib.sha256(store.location.encode("utf-8", "replace")).hexdigest()[:12]


class LedgerWriter:
    """The engine's recorder over ``store``: write now, else keep, retry, spool, or say."""

    def __init__(self, store: Store, spool_dir: Path | None = None) -> None:
        self.store = store
        self.spool_dir = spool_dir if not store.in_memory_only else None
        self.pending: list[AttemptRecord] = []
        self.outcome = WriteOutcome()
        self._lock = threading.Lock()

    def record_attempt(self, rec: AttemptRecord) -> int:
        """Store ``rec`` (after any kept row) and return its id; raises NotRecorded when the
        store refused it (the row is then kept, not dropped)."""
        rec.uid = rec.uid or new_uid()
        with self._lock:
            self._retry()
            if self.pending:  # an older row is still refused: keep the order, keep this one
                self.pending.append(rec)
                raise NotRecorded(self.outcome.problems[-1])
            try:
                return self.store.record_attempt(rec)
            except Exception as exc:  # any refusal: the row is kept, the reason said
                self.pending.append(rec)
                self._problem(exc)
                raise NotRecorded(str(exc)) from exc

    def _retry(self) -> None:
        while self.pending:
            try:
                self.store.record_attempt(self.pending[0])
            except Exception:  # noqa: BLE001 - still refused; the caller keeps the rest
                return
            self.pending.pop(0)
            self.outcome.retried += 1

    def _problem(self, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        if text not in self.outcome.problems:
            self.outcome.problems.append(text)

    def close(self) -> WriteOutcome:
        """Last try, then spool (or count as lost) what the store still refuses."""
        with self._lock:
            self._retry()
            rows, self.pending = self.pending, []
        out = self.outcome
        if not rows:
            return out
        if self.spool_dir is not None:
            try:
                out.spool_file = self._spool(rows)
                out.spooled += len(rows)
                return out
            except OSError as exc:
                out.problems.append(f"the spool file could not be written either "
                                    f"({exc.strerror or exc})")
        out.lost += len(rows)
        return out

    def _spool(self, rows: list[AttemptRecord]) -> Path:
        assert self.spool_dir is not None
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        path = self.spool_dir / f"{spool_key(self.store)}-{new_uid()}.jsonl"
        data = "".join(dumps(dataclasses.asdict(r)) + "\n" for r in rows)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        return path


def drain_spool(store: Store, spool_dir: Path) -> int:
    """Write the rows other runs could not (their spool files for this store); returns how
    many were written. A file is claimed by renaming it first, so two programs draining at
    once never both take it; a file that cannot be written yet is put back for later."""
    if store.in_memory_only:
        return 0
    try:
        files = sorted(spool_dir.glob(f"{spool_key(store)}-*.jsonl"))
    except OSError:
        return 0  # an unreadable data dir: the rows wait for a run that can read it
    written = 0
    for path in files:
        claimed = path.with_suffix(f".draining-{os.getpid()}")
        try:
            path.rename(claimed)
        except OSError:
            continue  # another program took it, or the directory is read-only
        try:
            rows = _read_spool(claimed)
            with store.transaction():
                for rec in rows:
                    store.record_attempt(rec)
        except Exception:  # noqa: BLE001 - the store still refuses: leave it for next time
            with contextlib.suppress(OSError):
                claimed.rename(path)
            return written
        written += len(rows)
        with contextlib.suppress(OSError):
            claimed.unlink()
    return written


def _read_spool(path: Path) -> list[AttemptRecord]:
    names = {f.name for f in dataclasses.fields(AttemptRecord)}
    rows: list[AttemptRecord] = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        try:
            data: Any = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash mid-write: the rest still counts
        if isinstance(data, dict):
            rows.append(AttemptRecord(**{k: v for k, v in data.items() if k in names}))
    return rows
