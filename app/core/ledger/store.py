"""The SQLite store: sessions, chat history, one row per model attempt, and verdicts.

Durability and concurrency choices:

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

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.config import paths
from app.core.ledger.migrations import MIGRATIONS, SCHEMA_VERSION
from app.core.ledger.records import AttemptRecord

if TYPE_CHECKING:
    from app.core.config.settings import Settings

DB_NAME = "routedeck.db"
BUSY_TIMEOUT_MS = 10_000
VERDICTS = ("cheap_enough", "premium_better", "tie")
ROLES = ("system", "user", "assistant")

# AttemptRecord fields stored verbatim in same-named requests columns.
_DIRECT = (
    "started_at", "session_id", "turn_id", "attempt", "tier", "model", "provider",
    "task_type", "score", "rule", "reason", "forced", "pinned", "escalated",
    "escalation_reason", "fallback_from", "cache_hit", "status", "error_kind",
    "error_message", "input_tokens", "output_tokens", "cached_input_tokens",
    "reasoning_tokens", "usage_source", "price_input_per_mtok", "price_output_per_mtok",
    "price_cached_input_per_mtok", "price_source", "cost_usd", "premium_cost_usd",
    "latency_s", "ttft_s", "decision_us",
)
_REQUEST_COLUMNS = (*_DIRECT, "prompt", "prompt_sha256", "answer", "answer_sha256", "extra")
_INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)})"
)
_BOOL_COLUMNS = ("forced", "pinned", "escalated", "cache_hit")
STATUSES = ("ok", "error", "cancelled", "truncated")
_PAGE = 2_000  # rows per page when iterating requests


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, not a RouteDeck database, ...)."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this RouteDeck "
                f"understands ({SCHEMA_VERSION}); upgrade RouteDeck"
            )
        for step in range(version, target):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
        if target > version:
            # PRAGMA takes no bound parameters; target is an int we computed.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


class Store:
    """Sessions, messages, requests (attempts) and verdicts in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path, store_prompts: bool = True,
                 in_memory_only: bool = False):
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.store_prompts = store_prompts
        self.in_memory_only = in_memory_only

    # --- lifecycle ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, store_prompts: bool = True) -> Store:
        """Open (creating and upgrading as needed) the store at ``path`` or the default."""
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
        return cls(conn, db, store_prompts)

    @classmethod
    def in_memory(cls, store_prompts: bool = True) -> Store:
        """A store that lives only as long as this process (when the file cannot be used)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        migrate(conn)
        return cls(conn, Path(":memory:"), store_prompts, in_memory_only=True)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.scalar("PRAGMA user_version"))

    # --- low-level helpers (the ledger builds its aggregates on these) ---------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        # One statement, one transaction: committed before we return, so it survives a kill.
        with self._lock:
            cur = self._conn.execute(sql, params)
            return int(cur.lastrowid or 0)

    def _text(self, text: str | None) -> tuple[str | None, str]:
        """(stored text, sha256): privacy mode keeps only the hash."""
        text = text or ""
        return (text if self.store_prompts else None), sha256(text)

    # --- sessions and messages -------------------------------------------------------------
    def new_session(self, title: str = "") -> int:
        return self._write(
            "INSERT INTO sessions (created_at, title) VALUES (?, ?)", (time.time(), title)
        )

    def set_title(self, session_id: int, title: str) -> None:
        self._write("UPDATE sessions SET title = ? WHERE id = ?", (title, session_id))

    def session(self, session_id: int) -> dict[str, Any] | None:
        rows = self._session_rows("WHERE s.id = ?", (session_id,), 1)
        return rows[0] if rows else None

    def sessions(self, limit: int = 50) -> list[dict[str, Any]]:
        """Most recently active sessions first: id, created_at, title, last_at, messages,
        turns, spent (priced attempts only) and unpriced (attempts with no known price)."""
        return self._session_rows("", (), limit)

    def _session_rows(self, where: str, params: tuple[Any, ...], limit: int) -> list[dict]:
        sql = f"""
            SELECT s.id, s.created_at, s.title,
                   (SELECT content FROM messages m WHERE m.session_id = s.id
                       AND m.role = 'user' ORDER BY m.id LIMIT 1) AS first_prompt,
                   (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS messages,
                   (SELECT COUNT(DISTINCT turn_id) FROM requests r WHERE r.session_id = s.id)
                       AS turns,
                   (SELECT COALESCE(SUM(cost_usd), 0) FROM requests r
                       WHERE r.session_id = s.id) AS spent,
                   (SELECT COUNT(*) FROM requests r
                       WHERE r.session_id = s.id AND r.cost_usd IS NULL) AS unpriced,
                   MAX(s.created_at,
                       COALESCE((SELECT MAX(created_at) FROM messages m
                                 WHERE m.session_id = s.id), 0),
                       COALESCE((SELECT MAX(started_at) FROM requests r
                                 WHERE r.session_id = s.id), 0)) AS last_at
            FROM sessions s {where}
            ORDER BY last_at DESC, s.id DESC LIMIT ?"""
        return [dict(r) for r in self.query(sql, (*params, int(limit)))]

    def add_message(
        self, session_id: int, role: str, content: str, request_id: int | None = None
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        text, digest = self._text(content)
        return self._write(
            "INSERT INTO messages (session_id, role, content, content_sha256, request_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, role, text, digest, request_id, time.time()),
        )

    def delete_session(self, session_id: int) -> None:
        """Forget a session's conversation: its messages and the prompt and answer texts of
        its calls go; the calls' costs stay (hashes only), so the ledger's totals do not
        change. Its compare pairs and verdicts lose their prompt text the same way."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for sql in (
                    "DELETE FROM messages WHERE session_id = ?",
                    "UPDATE requests SET prompt = NULL, answer = NULL WHERE session_id = ?",
                    "UPDATE compare_pairs SET prompt = NULL WHERE session_id = ?",
                    "DELETE FROM sessions WHERE id = ?",
                ):
                    self._conn.execute(sql, (session_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete_messages(self, message_ids: Sequence[int]) -> None:
        """Drop messages from a session's history (a regenerated or edited turn)."""
        ids = [int(i) for i in message_ids]
        if ids:
            self._write(f"DELETE FROM messages WHERE id IN ({', '.join('?' * len(ids))})", ids)

    def user_prompts(self, limit: int = 500) -> list[str]:
        """Prompts the user sent (every session), newest first, each once."""
        rows = self.query(
            "SELECT content FROM messages WHERE role = 'user' AND content IS NOT NULL "
            "GROUP BY content ORDER BY MAX(id) DESC LIMIT ?", (int(limit),))
        return [r["content"] for r in rows]

    def last_attempt(self, turn_id: str) -> int:
        """How many attempts a turn has (0 for an unknown turn)."""
        return int(self.scalar("SELECT COALESCE(MAX(attempt), 0) FROM requests "
                               "WHERE turn_id = ?", (turn_id,)) or 0)

    def messages(self, session_id: int) -> list[dict[str, str]]:
        """The session's chat history as ``{"role", "content"}`` dicts, oldest first.

        Messages stored in hash-only mode have no text and are left out: sending empty
        turns to a model would be worse than sending none.
        """
        rows = self.query(
            "SELECT role, content FROM messages WHERE session_id = ? AND content IS NOT NULL "
            "ORDER BY id",
            (session_id,),
        )
        return [{"role": r["role"], "content": r["content"]} for r in rows]

    def message_rows(self, session_id: int) -> list[dict[str, Any]]:
        """Every stored message with its id, hash, request id and time."""
        rows = self.query("SELECT * FROM messages WHERE session_id = ? ORDER BY id",
                          (session_id,))
        return [dict(r) for r in rows]

    def replace_message(self, message_id: int, content: str, request_id: int | None) -> None:
        """Swap a stored message's text and request (the compare view kept the other answer)."""
        text, digest = self._text(content)
        self._write("UPDATE messages SET content = ?, content_sha256 = ?, request_id = ? "
                    "WHERE id = ?", (text, digest, request_id, message_id))

    # --- requests (one per attempt) --------------------------------------------------------
    def record_attempt(self, rec: AttemptRecord) -> int:
        """Persist one attempt (committed on return) and return its request id.

        The record arrives priced (:func:`app.core.ledger.costs.attempt_cost`); the store
        keeps exactly what it is given.
        """
        if rec.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {rec.status!r}")
        values: list[Any] = []
        for name in _DIRECT:
            value = getattr(rec, name)
            values.append(int(value) if name in _BOOL_COLUMNS else value)
        prompt, prompt_hash = self._text(rec.prompt)
        answer, answer_hash = self._text(rec.answer)
        values += [prompt, prompt_hash, answer, answer_hash,
                   json.dumps(rec.extra or {}, ensure_ascii=False, sort_keys=True)]
        return self._write(_INSERT_REQUEST, values)

    def record_attempts(self, recs: Sequence[AttemptRecord]) -> list[int]:
        """Many attempts in one transaction (imports, benchmarks); all or none are stored."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                ids = [self.record_attempt(r) for r in recs]
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return ids

    def request(self, request_id: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM requests WHERE id = ?", (request_id,))
        return _request_dict(rows[0]) if rows else None

    def requests(
        self,
        session_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        turn_id: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Request rows as dicts (flags as bools, ``extra`` decoded), oldest first."""
        return list(self.iter_requests(session_id, since, until, turn_id, limit, newest_first))

    def iter_requests(
        self,
        session_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        turn_id: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Like :meth:`requests`, but fetched in pages, so exporting a large ledger keeps
        memory flat and never holds the connection lock while the caller works."""
        where, params = request_filter(session_id, since, until)
        if turn_id is not None:
            where += " AND turn_id = ?"
            params.append(turn_id)
        order, cmp = ("DESC", "<") if newest_first else ("ASC", ">")
        remaining = limit
        after: tuple[float, int] | None = None
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            # Keyset pagination on the sort key (started_at, id): stable under inserts.
            keyset, kparams = "", []
            if after is not None:
                keyset = f" AND (started_at {cmp} ? OR (started_at = ? AND id {cmp} ?))"
                kparams = [after[0], after[0], after[1]]
            rows = self.query(
                f"SELECT * FROM requests WHERE {where}{keyset} "
                f"ORDER BY started_at {order}, id {order} LIMIT ?",
                [*params, *kparams, page])
            for row in rows:
                yield _request_dict(row)
            if len(rows) < page:
                return
            after = (rows[-1]["started_at"], rows[-1]["id"])
            if remaining is not None:
                remaining -= len(rows)

    # --- verdicts --------------------------------------------------------------------------
    def add_verdict(
        self,
        answer_request_id: int,
        compared_request_id: int,
        verdict: str,
        kept_request_id: int | None = None,
        session_id: int | None = None,
    ) -> int:
        """Store a human verdict on the answer given vs the compared (usually premium) one.

        ``verdict``: cheap_enough | premium_better | tie. ``kept_request_id`` is the answer
        that stayed in the conversation. The session defaults to the answer's session.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        if session_id is None:
            session_id = self.scalar("SELECT session_id FROM requests WHERE id = ?",
                                     (answer_request_id,))
        return self._write(
            "INSERT INTO verdicts (created_at, session_id, answer_request_id, "
            "compared_request_id, verdict, kept_request_id) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), session_id, answer_request_id, compared_request_id, verdict,
             kept_request_id),
        )

    def verdicts(
        self, session_id: int | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["1"], []
        if session_id is not None:
            where.append("session_id = ?")
            params.append(session_id)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        rows = self.query(
            f"SELECT * FROM verdicts WHERE {' AND '.join(where)} ORDER BY id", params
        )
        return [dict(r) for r in rows]

    # --- compare pairs (routedeck compare / escalate) -----------------------------------
    def add_compare_pair(
        self,
        prompt: str,
        answer_request_id: int,
        compared_request_id: int,
        session_id: int | None = None,
        source: str = "compare",
    ) -> int:
        """Remember two answers to one prompt so a verdict can be given now or later."""
        text, digest = self._text(prompt)
        return self._write(
            "INSERT INTO compare_pairs (created_at, session_id, source, prompt, prompt_sha256, "
            "answer_request_id, compared_request_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), session_id, source, text, digest, answer_request_id,
             compared_request_id),
        )

    def compare_pairs(
        self, session_id: int | None = None, pending_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Pairs oldest first, each with both request rows and its verdict (or None)."""
        where, params = [], []
        if session_id is not None:
            where.append("p.session_id = ?")
            params.append(session_id)
        if pending_only:
            where.append("v.id IS NULL")
        sql = (
            "SELECT p.*, v.verdict AS verdict, v.kept_request_id AS kept_request_id "
            "FROM compare_pairs p LEFT JOIN verdicts v ON v.id = ("
            " SELECT MAX(id) FROM verdicts WHERE answer_request_id = p.answer_request_id"
            " AND compared_request_id = p.compared_request_id)"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY p.id" + (" LIMIT ?" if limit else "")
        )
        if limit:
            params.append(limit)
        out = []
        for row in self.query(sql, params):
            pair = dict(row)
            pair["answer"] = self.request(pair["answer_request_id"])
            pair["compared"] = self.request(pair["compared_request_id"])
            out.append(pair)
        return out

    def integrity_check(self) -> str:
        return str(self.scalar("PRAGMA integrity_check"))


def request_filter(
    session_id: int | None = None, since: float | None = None, until: float | None = None,
    alias: str = "",
) -> tuple[str, list[Any]]:
    """A WHERE clause (always parametrised) selecting requests by session and time."""
    p = f"{alias}." if alias else ""
    where, params = ["1"], []
    if session_id is not None:
        where.append(f"{p}session_id = ?")
        params.append(session_id)
    if since is not None:
        where.append(f"{p}started_at >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{p}started_at < ?")
        params.append(until)
    return " AND ".join(where), params


def _request_dict(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for name in _BOOL_COLUMNS:
        d[name] = bool(d[name])
    try:
        d["extra"] = json.loads(d.get("extra") or "{}")
    except ValueError:
        d["extra"] = {}
    return d


def record_from_row(row: dict[str, Any]) -> AttemptRecord:
    """An AttemptRecord rebuilt from a request row (prompt/answer empty in hash mode)."""
    names = {f.name for f in fields(AttemptRecord)}
    data = {k: v for k, v in row.items() if k in names}
    data["prompt"] = row.get("prompt") or ""
    data["answer"] = row.get("answer") or ""
    return AttemptRecord(**data)


def open_store(settings: Settings | None = None, path: str | Path | None = None) -> Store:
    """The store for these settings (privacy mode from ``[privacy] store_prompts``)."""
    store_prompts = settings.privacy.store_prompts if settings is not None else True
    return Store.open(path, store_prompts=store_prompts)
