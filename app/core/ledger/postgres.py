"""The team ledger: the same store on a PostgreSQL server, through psycopg 3.

Imported only when ``[store] url`` names a PostgreSQL database (the CLI and the console do
not pay for psycopg otherwise). The schema is the one :mod:`app.core.ledger.migrations`
builds for SQLite, spelled for PostgreSQL by :mod:`app.core.ledger.dialect`; the version
lives in the ``routedeck_schema`` table, and upgrades take a transaction-scoped advisory
lock, so machines starting at once upgrade a shared database exactly once. PostgreSQL's DDL
is transactional: a failed upgrade leaves the old schema intact.

Concurrency: every write is one autocommitted statement (or one transaction for a batch), so
any number of processes and machines write at once; ids come from identity columns, and
each row's uid makes a retried insert harmless (``ON CONFLICT (uid) DO NOTHING``). A
connection that broke (server restart, network cut) is reopened once and the statement
retried; anything else surfaces as :class:`~app.core.ledger.store.StoreError`.

The password comes from the environment variable ``[store] password_env`` names and is
handed to libpq as a separate parameter: it is never part of a URL we keep, show or log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from pydantic import SecretStr

from app.core.config.urls import redact_url
from app.core.ledger.base import Store, StoreError, insert_sql
from app.core.ledger.dialect import POSTGRESQL
from app.core.ledger.identity import Identity
from app.core.ledger.migrations import MIGRATIONS, SCHEMA_VERSION, check_version

T = TypeVar("T")

# pg_advisory_xact_lock key for schema upgrades ("RDCK" in ASCII).
_MIGRATION_LOCK = 0x5244434B
# A stuck server must not hold a console worker (or a turn's ledger write) for ever.
_STATEMENT_TIMEOUT_MS = 30_000


class Row(dict):
    """A result row that reads by column name (like a dict) and by position (like a tuple),
    as ``sqlite3.Row`` does, so the read side is the same on both backends."""

    __slots__ = ("_values",)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return dict.__getitem__(self, key)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names = [c.name for c in cursor.description or ()]

    def make(values: Sequence[Any]) -> Row:
        row = Row(zip(names, values, strict=True))
        row._values = tuple(values)
        return row

    return make


def _clean(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL; a model's answer sometimes does. The row keeps the
    # text's SHA-256 of the original, so the substitution is visible, never silent.
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def migrate(conn: psycopg.Connection, upto: int | None = None) -> int:
    """Apply the missing migration steps (all, or up to step ``upto``); returns the version."""
    target = SCHEMA_VERSION if upto is None else upto
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS routedeck_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM routedeck_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO routedeck_schema (version) VALUES (0)")
        version = int(row[0]) if row else 0
        check_version(version)
        for step in range(version, target):
            for statement in MIGRATIONS[step]:
                conn.execute(POSTGRESQL.ddl(statement))
        if target > version:
            conn.execute("UPDATE routedeck_schema SET version = %s", (target,))
    return max(version, target)


class PostgresStore(Store):
    """Sessions, messages, requests, verdicts and compare pairs in a PostgreSQL database."""

    dialect = POSTGRESQL
    backend = "postgresql"

    def __init__(self, url: str, password: SecretStr | None = None, store_prompts: bool = True,
                 identity: Identity | None = None, connect_timeout_s: float = 5.0) -> None:
        super().__init__(store_prompts, identity)
        self._url = url
        self._password = password
        self._timeout = connect_timeout_s
        self.url = redact_url(url)
        self.path = None
        self._closed = False
        self._local = threading.local()  # transaction depth per thread
        self._conn = self._connect()

    @classmethod
    def connect(cls, url: str, password: SecretStr | None = None, store_prompts: bool = True,
                identity: Identity | None = None, connect_timeout_s: float = 5.0
                ) -> PostgresStore:
        """Open the database at ``url``, creating or upgrading the schema as needed."""
        store = cls(url, password, store_prompts, identity, connect_timeout_s)
        try:
            migrate(store._conn)
        except psycopg.Error as exc:
            store.close()
            raise StoreError(f"{store.url}: not a usable RouteDeck database "
                             f"({store._safe(exc)})") from None
        except BaseException:
            store.close()
            raise
        return store

    def _connect(self) -> psycopg.Connection:
        kwargs: dict[str, Any] = {
            "autocommit": True, "connect_timeout": max(1, round(self._timeout)),
            "application_name": "routedeck", "row_factory": _row_factory,
            "options": f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
        }
        if self._password is not None:
            kwargs["password"] = self._password.get_secret_value()
        try:
            return psycopg.connect(self._url, **kwargs)
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: cannot connect ({self._safe(exc)})") from None

    def _safe(self, exc: BaseException) -> str:
        """An error message fit to show: one line, and never the password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self._password is not None and self._password.get_secret_value():
            text = text.replace(self._password.get_secret_value(), "***")
        return text.replace(self._url, self.url)

    @property
    def location(self) -> str:
        return self.url

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self.scalar("SELECT version FROM routedeck_schema"))

    def integrity_check(self) -> str:
        # The server guards its own pages; what we can check is that the schema is ours.
        return "ok" if self.schema_version == SCHEMA_VERSION else "schema mismatch"

    # --- primitives ------------------------------------------------------------------------
    def _run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # Inside a transaction the work so far is gone with the connection: only the
                # caller can redo it. Outside one, the statement is safe to send again.
                lost = self._conn.broken or self._conn.closed
                if self._closed or not lost or getattr(self._local, "depth", 0):
                    raise StoreError(f"{self.url}: {self._safe(exc)}") from None
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: {self._safe(exc)}") from None
            self._conn = self._connect()
            try:
                return fn(self._conn)
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: {self._safe(exc)}") from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        statement = self.dialect.sql(sql)
        values = [_clean(p) for p in params]

        def run(conn: psycopg.Connection) -> list[Any]:
            cur = conn.execute(statement, values)
            return cur.fetchall() if cur.description else []

        return self._run(run)

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        statement = self.dialect.sql(sql)
        values = [_clean(p) for p in params]
        self._run(lambda conn: conn.execute(statement, values))

    def _insert(self, table: str, values: Mapping[str, Any]) -> tuple[int, bool]:
        statement = self.dialect.sql(insert_sql(table, list(values)) + " RETURNING id")
        params = [_clean(v) for v in values.values()]

        def run(conn: psycopg.Connection) -> tuple[int, bool]:
            row = conn.execute(statement, params).fetchone()
            if row is not None:
                return int(row[0]), True
            found = conn.execute(f"SELECT id FROM {table} WHERE uid = %s",
                                 (values["uid"],)).fetchone()
            return int(found[0]), False

        return self._run(run)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                with self._conn.transaction():
                    yield
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: {self._safe(exc)}") from None
            finally:
                self._local.depth = depth
