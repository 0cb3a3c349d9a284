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
* ``busy_timeout`` (``[store] busy_timeout_s``, 10 s): a second app instance on the same
  file waits for the lock instead of failing; WAL lets readers proceed while one writer
  writes. A write that still cannot be made is kept and retried by the engine's recorder
  (:mod:`app.core.ledger.writer`), never dropped silently.
* Every SQLite failure after the file opened (locked, disk full, read-only, damaged) comes
  out as a :class:`StoreError` that names the file and the way out (:func:`fault`).
* ``read_only=True`` (``report``, ``export``): a ledger on a read-only disk, or one this
  user may not write, is still read (``mode=ro``, then ``immutable``).
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
from urllib.parse import quote

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
from app.core.ledger.writer import SPOOL_DIR, drain_spool

if TYPE_CHECKING:
    from app.core.config.settings import Settings

DB_NAME = "routedeck.db"
BUSY_TIMEOUT_MS = 10_000
_DAMAGED = ("malformed", "not a database", "file is encrypted", "corrupt")


def default_path() -> Path:
    return paths.data_dir() / DB_NAME


def connect(path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000,
            read_only: str = "") -> sqlite3.Connection:
    """A connection with RouteDeck's pragmas; autocommit, transactions are explicit.

    ``read_only``: "" (read and write), "ro" (read-only) or "immutable" (read-only media:
    SQLite then takes no locks and needs no -shm file)."""
    ms = max(0, int(busy_timeout_s * 1000))
    if read_only:
        flag = "immutable=1" if read_only == "immutable" else "mode=ro"
        target, uri = f"file:{quote(str(Path(path).resolve()))}?{flag}", True
    else:
        target, uri = str(path), False
    conn = sqlite3.connect(target, timeout=ms / 1000, isolation_level=None,
                           check_same_thread=False, uri=uri)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {ms}")
    if not read_only:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def damaged(path: Path | str, exc: BaseException) -> str:
    """What to tell a user whose ledger file is damaged: the file, and the way out."""
    return (f"{path} is damaged ({exc}). Keep a copy and start a new ledger: "
            f"mv '{path}' '{path}.broken' (RouteDeck creates a new one on its next start); "
            f"`sqlite3 '{path}.broken' .recover` may save its rows")


def _disk_full(path: Path | str) -> bool:
    import shutil

    try:
        return shutil.disk_usage(Path(path).parent).free < 64 << 10
    except OSError:
        return False


def fault(path: Path | str, exc: BaseException, busy_timeout_s: float | None = None
          ) -> StoreError:
    """A SQLite (or OS) failure on the ledger file as a StoreError with words to act on."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, OverflowError):
        return StoreError(f"{path}: a number too large for the database ({text})")
    if "locked" in low or "busy" in low:
        wait = f" for {busy_timeout_s:g} s" if busy_timeout_s is not None else ""
        return StoreError(f"{path} is locked by another program (waited{wait}): close the "
                          "other RouteDeck or sqlite3 that holds it, or raise [store] "
                          "busy_timeout_s", "locked")
    if "disk i/o error" in low and _disk_full(path):
        low = "disk is full"  # SQLite says I/O error when it cannot even map its -shm file
    if "disk is full" in low or "database or disk is full" in low or "no space" in low:
        return StoreError(f"{path}: the disk is full; free some space")
    if "readonly" in low or "read-only" in low or "permission" in low:
        return StoreError(f"{path} cannot be written ({text}): check the file's permissions "
                          "and that its disk is not mounted read-only")
    if any(word in low for word in _DAMAGED):
        return StoreError(damaged(path, exc), "damaged")
    return StoreError(f"{path}: {text}")


def migrate(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Apply the missing migration steps (all, or up to step ``upto``); returns the version.

    BEGIN IMMEDIATE takes the write lock first, so two instances opening an old database at
    once upgrade it exactly once.
    """
    target = SCHEMA_VERSION if upto is None else upto
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    check_version(version)
    if version >= target:
        # Up to date: no write lock is needed, so a ledger that another program is writing
        # (or that cannot be written at all) still opens.
        return version
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
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return max(version, target)


class SQLiteStore(Store):
    """The embedded default: one SQLite file in the data dir."""

    def __init__(self, conn: sqlite3.Connection, path: Path, store_prompts: bool = True,
                 in_memory_only: bool = False, identity: Identity | None = None,
                 busy_timeout_s: float | None = None, read_only: bool = False):
        super().__init__(store_prompts, identity, in_memory_only)
        self._conn = conn
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.read_only = read_only
        self._depth = 0  # nesting of transaction()

    @classmethod
    def open(cls, path: str | Path | None = None, store_prompts: bool = True,
             identity: Identity | None = None, *,
             busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000,
             read_only: bool = False) -> SQLiteStore:
        """Open (creating and upgrading as needed) the SQLite store at ``path`` or the default.

        ``read_only``: the caller only reads, so a file that cannot be written (a read-only
        disk, another user's file) is opened read-only instead of failing. Raises StoreError
        (never sqlite3 or OS errors) naming the file and what to do."""
        db = Path(path) if path is not None else default_path()
        try:
            return cls._open(db, store_prompts, identity, busy_timeout_s, "")
        except StoreError as first:
            if not read_only or not db.is_file():
                raise
            for mode in ("ro", "immutable"):
                try:
                    return cls._open(db, store_prompts, identity, busy_timeout_s, mode)
                except StoreError:
                    continue
            raise first from None

    @classmethod
    def _open(cls, db: Path, store_prompts: bool, identity: Identity | None,
              busy_timeout_s: float, mode: str) -> SQLiteStore:
        conn = None
        try:
            if not mode:
                db.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(db, busy_timeout_s, mode)
            if mode:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                check_version(version)
                if version < SCHEMA_VERSION:
                    raise StoreError(f"{db} is from an older RouteDeck and cannot be written, "
                                     "so it cannot be upgraded: run RouteDeck once where the "
                                     "file is writable")
                conn.execute("SELECT COUNT(*) FROM requests").fetchone()
            else:
                migrate(conn)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            low = str(exc).lower()
            if any(word in low for word in _DAMAGED):
                raise StoreError(f"not a usable RouteDeck database: {damaged(db, exc)}",
                                 "damaged") from exc
            raise fault(db, exc, busy_timeout_s) from exc
        except OSError as exc:
            if conn is not None:
                conn.close()
            where = db.parent if not db.parent.is_dir() else db
            raise StoreError(f"cannot create the ledger at {db}: {where} is not writable "
                             f"({exc.strerror or exc}); make it writable or point "
                             "ROUTEDECK_HOME at a writable directory") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, db, store_prompts, identity=identity, busy_timeout_s=busy_timeout_s,
                   read_only=bool(mode))

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

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Every SQLite failure of a statement leaves as a StoreError in words."""
        try:
            yield
        except (sqlite3.Error, OverflowError) as exc:
            raise fault(self.path, exc, self.busy_timeout_s) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._faults():
            return self._conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock, self._faults():
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        with self._lock, self._faults():
            self._conn.execute(sql, params)

    def _insert(self, table: str, values: Mapping[str, Any]) -> tuple[int, bool]:
        with self._lock, self._faults():
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
            with self._faults():
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
                with self._faults():
                    self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0


def open_store(settings: Settings | None = None, path: str | Path | None = None, *,
               read_only: bool = False) -> Store:
    """The store these settings name: the PostgreSQL database of ``[store] url`` when set
    (and no ``path`` is given), else the SQLite file (privacy from ``[privacy]``).

    ``read_only``: the caller only reads (a SQLite file that cannot be written is still
    opened). Raises StoreError, with words, for every way the store cannot be opened."""
    store_prompts = settings.privacy.store_prompts if settings is not None else True
    cfg = settings.store if settings is not None else None
    identity = Identity.current(cfg.user, cfg.host) if cfg is not None else None
    if path is None and cfg is not None and cfg.url:
        from app.core.ledger.postgres import PostgresStore

        store: Store = PostgresStore.connect(cfg.url, password=cfg.password(),
                                             store_prompts=store_prompts, identity=identity,
                                             connect_timeout_s=cfg.connect_timeout_s)
    else:
        busy = cfg.busy_timeout_s if cfg is not None else BUSY_TIMEOUT_MS / 1000
        store = SQLiteStore.open(path, store_prompts=store_prompts, identity=identity,
                                 busy_timeout_s=busy, read_only=read_only)
    if not getattr(store, "read_only", False):
        # Rows an earlier run could not write (the file was locked, the disk full) go in now.
        drain_spool(store, spool_dir(store))
    return store


def spool_dir(store: Store) -> Path:
    """Where rows the store refused wait to be written: next to the SQLite file, or in the
    data dir for a team database."""
    path = getattr(store, "path", None)
    if isinstance(path, Path) and str(path) != ":memory:":
        return path.parent / SPOOL_DIR
    return paths.data_dir() / SPOOL_DIR
