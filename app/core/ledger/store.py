"""The ledger's store: sessions, chat history, one row per model attempt, verdicts and
compare pairs, in SQLite (the embedded default) or PostgreSQL (a team ledger).

What both backends share (:class:`Store`, its public methods in portable SQL) lives in
:mod:`app.core.ledger.base` and is re-exported here. :class:`SQLiteStore` is here;
:class:`app.core.ledger.postgres.PostgresStore` is imported only when ``[store] url`` names a
PostgreSQL database, so nothing else pays for psycopg. :func:`open_store` picks one.

SQLite durability and concurrency choices:

* WAL journal, ``synchronous=NORMAL``: every write is its own committed transaction, so a
  killed process loses at most the attempt it was writing, and the file is never left
  corrupt. (NORMAL may drop the last commits on power loss, never on a process crash.)
* ``busy_timeout``: a second app instance on the same file waits for the lock instead of
  failing; WAL lets readers proceed while one writer writes.
* One connection per Store, guarded by a lock, so the console can call it from worker
  threads.
* Schema upgrades run from :mod:`app.core.ledger.migrations`, tracked by ``PRAGMA user_version``.

Privacy: with ``store_prompts=False`` prompts, answers and message texts are replaced by
their SHA-256; such a session's history cannot be resumed. No credential is ever written
here: nothing in an AttemptRecord holds one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import paths
from app.core.ledger.base import (  # noqa: F401 - the store's public names live here too
    ROLES,
    STATUSES,
    TABLES,
    VERDICTS,
    Store,
    StoreError,
    insert_sql,
    record_from_row,
    request_filter,
    sha256,
)
from app.core.ledger.dialect import SQLITE
from app.core.ledger.identity import Identity
from app.core.ledger.migrations import MIGRATIONS, SCHEMA_VERSION, check_version

if TYPE_CHECKING:
    from app.core.config.settings import Settings

DB_NAME = "routedeck.db"
BUSY_TIMEOUT_MS = 10_000


def default_path() -> Path:
    return paths.data_dir() / DB_NAME


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection with RouteDeck's pragmas; autocommit, transactions are explicit."""
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Apply the missing migration steps (all, or up to step ``upto``); returns the version.

    BEGIN IMMEDIATE takes the write lock first, so two instances opening an old database at
    once upgrade it exactly once.
    """
    target = SCHEMA_VERSION if upto is None else upto
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        check_version(version)
        for step in range(version, target):
            for statement in MIGRATIONS[step]:
                conn.execute(SQLITE.ddl(statement))
        if target > version:
            # PRAGMA takes no bound parameters; target is an int we computed.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


class SQLiteStore(Store):
    """The embedded default: one SQLite file in the data dir."""

    def __init__(self, conn: sqlite3.Connection, path: Path, store_prompts: bool = True,
                 in_memory_only: bool = False, identity: Identity | None = None):
        super().__init__(store_prompts, identity, in_memory_only)
        self._conn = conn
        self.path = path
        self._depth = 0  # nesting of transaction()

    @classmethod
    def open(cls, path: str | Path | None = None, store_prompts: bool = True,
             identity: Identity | None = None) -> SQLiteStore:
        """Open (creating and upgrading as needed) the SQLite store at ``path`` or the default."""
        db = Path(path) if path is not None else default_path()
        db.parent.mkdir(parents=True, exist_ok=True)
        conn = None
        try:
            conn = connect(db)
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"{db}: not a usable RouteDeck database ({exc})") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, db, store_prompts, identity=identity)

    @classmethod
    def in_memory(cls, store_prompts: bool = True) -> SQLiteStore:
        """A store that lives only as long as this process (when the real one cannot be used)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        migrate(conn)
        return cls(conn, Path(":memory:"), store_prompts, in_memory_only=True)

    @property
    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self.scalar("PRAGMA user_version"))

    def integrity_check(self) -> str:
        return str(self.scalar("PRAGMA integrity_check"))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    def _insert(self, table: str, values: Mapping[str, Any]) -> tuple[int, bool]:
        with self._lock:
            cur = self._conn.execute(insert_sql(table, list(values)), list(values.values()))
            if cur.rowcount == 1:
                return int(cur.lastrowid or 0), True
            row = self._conn.execute(f"SELECT id FROM {table} WHERE uid = ?",
                                     (values["uid"],)).fetchone()
            return int(row[0]), False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0


def open_store(settings: Settings | None = None, path: str | Path | None = None) -> Store:
    """The store these settings name: the PostgreSQL database of ``[store] url`` when set
    (and no ``path`` is given), else the SQLite file (privacy from ``[privacy]``)."""
    store_prompts = settings.privacy.store_prompts if settings is not None else True
    cfg = settings.store if settings is not None else None
    identity = Identity.current(cfg.user, cfg.host) if cfg is not None else None
    if path is None and cfg is not None and cfg.url:
        from app.core.ledger.postgres import PostgresStore

        return PostgresStore.connect(cfg.url, password=cfg.password(),
                                     store_prompts=store_prompts, identity=identity,
                                     connect_timeout_s=cfg.connect_timeout_s)
    return SQLiteStore.open(path, store_prompts=store_prompts, identity=identity)
