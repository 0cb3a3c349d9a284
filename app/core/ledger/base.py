"""What both ledger backends share: the public methods of :class:`Store`, written once in
portable SQL with ``?`` placeholders (rewritten per backend by :mod:`app.core.ledger.dialect`).

A backend supplies a handful of primitives: run a query, insert a row, a transaction, the
schema version. :mod:`app.core.ledger.store` has the SQLite one (and :func:`open_store`, which
picks the backend); :mod:`app.core.ledger.postgres` the PostgreSQL one.

Every row gets a global identity (``uid``) and says who wrote it and where (``user_name``,
``host_name``), so rows can be copied between stores (``routedeck store copy``) without
duplicates: an insert whose uid is already there is skipped and returns the stored row's id.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import Any

from app.core.ledger.dialect import SQLITE, Dialect
from app.core.ledger.identity import Identity, new_uid
from app.core.ledger.records import AttemptRecord
from app.core.textsafe import clean

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
_REQUEST_COLUMNS = (*_DIRECT, "prompt", "prompt_sha256", "answer", "answer_sha256", "extra",
                    "uid", "user_name", "host_name")
_BOOL_COLUMNS = ("forced", "pinned", "escalated", "cache_hit")
STATUSES = ("ok", "error", "cancelled", "truncated")
_PAGE = 2_000  # rows per page when iterating requests
INT_MAX = 2**63 - 1  # the largest integer SQLite and PostgreSQL's BIGINT hold


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, not a RouteDeck database, unreachable,
    locked, full, damaged...), said in words that name it and the way out. ``kind`` tells
    the cases a caller treats differently apart: "locked" (try again later), "damaged"
    (start a new ledger), or "" for the rest."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """An insert that skips a row whose uid is already stored (copies, retries)."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) ON CONFLICT (uid) DO NOTHING")


class Store(ABC):
    """Sessions, messages, requests (attempts), verdicts and compare pairs.

    The base of both backends; open one with :meth:`open` (the SQLite file), :meth:`in_memory`
    or :func:`open_store` (which follows ``[store] url``).
    """

    dialect: Dialect = SQLITE
    backend = "sqlite"

    def __init__(self, store_prompts: bool = True, identity: Identity | None = None,
                 in_memory_only: bool = False) -> None:
        self._lock = threading.RLock()
        self.store_prompts = store_prompts
        self.identity = identity or Identity.current()
        self.in_memory_only = in_memory_only

    # --- lifecycle ------------------------------------------------------------------------
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the rows live, safe to show (a file path, or a URL without its password)."""
        ...

    @abstractmethod
    def close(self) -> None:
        ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    @abstractmethod
    def schema_version(self) -> int:
        ...

    @abstractmethod
    def integrity_check(self) -> str:
        ...

    # --- backend primitives (the ledger builds its aggregates on query/scalar) -------------
    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a ``?``-placeholder query; each row reads by column name and by index."""
        ...

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    @abstractmethod
    def _write(self, sql: str, params: Sequence[Any]) -> None:
        """One committed statement (an UPDATE)."""
        ...

    @abstractmethod
    def _insert(self, table: str, values: Mapping[str, Any]) -> tuple[int, bool]:
        """Insert one row unless its uid is stored already: (row id, whether it was new).

        Outside :meth:`transaction` the row is committed before this returns, so it
        survives a kill of the process right after.
        """
        ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: the writes inside commit together or not at all."""
        ...

    def insert_row(self, table: str, values: Mapping[str, Any]) -> tuple[int, bool]:
        """A raw row (``store copy``): its uid, times and who/where are kept as given."""
        return self._insert(table, values)

    def _stamp(self, values: dict[str, Any], who: bool = True) -> dict[str, Any]:
        values["uid"] = values.get("uid") or new_uid()
        if who:
            values["user_name"] = self.identity.user
            values["host_name"] = self.identity.host
        return values

    def _text(self, text: str | None) -> tuple[str | None, str]:
        """(stored text, sha256): privacy mode keeps only the hash. Text a database cannot
        encode (a lone surrogate) is stored cleaned; the hash is of the exact text."""
        text = text or ""
        return (clean(text) if self.store_prompts else None), sha256(text)

    # --- sessions and messages -------------------------------------------------------------
    def new_session(self, title: str = "") -> int:
        return self._insert("sessions", self._stamp({"created_at": time.time(),
                                                     "title": clean(title)}))[0]

    def set_title(self, session_id: int, title: str) -> None:
        self._write("UPDATE sessions SET title = ? WHERE id = ?", (clean(title), session_id))

    def session(self, session_id: int) -> dict[str, Any] | None:
        if not -INT_MAX <= session_id <= INT_MAX:
            return None  # no row has such an id (the database could not even compare it)
        rows = self._session_rows("WHERE s.id = ?", (session_id,), 1)
        return rows[0] if rows else None

    def sessions(self, limit: int = 50, empty: bool = True,
                 keep: int | None = None) -> list[dict[str, Any]]:
        """Most recently active sessions first: id, created_at, title, last_at, messages,
        turns, spent (priced attempts only) and unpriced (attempts with no known price).

        ``empty=False`` leaves out sessions with no message, no call and no title (every
        console launch opens one; quit at once, it would be "the latest conversation" for
        ``ask -c``), except session ``keep`` (the open one)."""
        if empty:
            return self._session_rows("", (), limit)
        where = """WHERE EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id)
                   OR EXISTS (SELECT 1 FROM requests r WHERE r.session_id = s.id)
                   OR COALESCE(s.title, '') <> '' OR s.id = ?"""
        return self._session_rows(where, (-1 if keep is None else keep,), limit)

    def _session_rows(self, where: str, params: tuple[Any, ...], limit: int) -> list[dict]:
        sql = f"""
            SELECT s.id, s.created_at, s.title, s.user_name, s.host_name,
                   (SELECT content FROM messages m WHERE m.session_id = s.id
                       AND m.role = 'user' ORDER BY m.id LIMIT 1) AS first_prompt,
                   (SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) AS messages,
                   (SELECT COUNT(DISTINCT turn_id) FROM requests r WHERE r.session_id = s.id)
                       AS turns,
                   (SELECT COALESCE(SUM(cost_usd), 0) FROM requests r
                       WHERE r.session_id = s.id) AS spent,
                   (SELECT COUNT(*) FROM requests r
                       WHERE r.session_id = s.id AND r.cost_usd IS NULL) AS unpriced,
                   {self.dialect.greatest}(s.created_at,
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
        return self._insert("messages", self._stamp({
            "session_id": session_id, "role": role, "content": text, "content_sha256": digest,
            "request_id": request_id, "created_at": time.time()}, who=False))[0]

    def delete_session(self, session_id: int) -> None:
        """Forget a session's conversation: its messages and the prompt and answer texts of
        its calls go; the calls' costs stay (hashes only), so the ledger's totals do not
        change. Its compare pairs lose their prompt text the same way."""
        with self.transaction():
            for sql in (
                "DELETE FROM messages WHERE session_id = ?",
                "UPDATE requests SET prompt = NULL, answer = NULL WHERE session_id = ?",
                "UPDATE compare_pairs SET prompt = NULL WHERE session_id = ?",
                "DELETE FROM sessions WHERE id = ?",
            ):
                self._write(sql, (session_id,))

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
        keeps exactly what it is given, plus who wrote it and where.
        """
        return self._insert("requests", self._request_values(rec))[0]

    def _request_values(self, rec: AttemptRecord) -> dict[str, Any]:
        if rec.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {rec.status!r}")
        values: dict[str, Any] = {}
        extra = dict(rec.extra or {})
        for name in _DIRECT:
            value = getattr(rec, name)
            if name in _BOOL_COLUMNS:
                value = int(value)
            elif isinstance(value, str):
                value = clean(value)
            elif isinstance(value, int) and not -INT_MAX <= value <= INT_MAX:
                # Out of the database's range (a server's absurd usage that got this far):
                # the row is kept, the figure clamped, and the row says so.
                extra[f"clamped_{name}"] = str(value)[:40]
                value = INT_MAX if value > 0 else -INT_MAX
            values[name] = value
        values["prompt"], values["prompt_sha256"] = self._text(rec.prompt)
        values["answer"], values["answer_sha256"] = self._text(rec.answer)
        values["extra"] = clean(json.dumps(extra, ensure_ascii=False, sort_keys=True))
        values["uid"] = rec.uid
        return self._stamp(values)

    def record_attempts(self, recs: Sequence[AttemptRecord]) -> list[int]:
        """Many attempts in one transaction (imports, benchmarks); all or none are stored."""
        rows = [self._request_values(r) for r in recs]
        with self.transaction():
            return [self._insert("requests", row)[0] for row in rows]

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
        for row in self.iter_rows("requests", where, params, ("started_at", "id"), limit,
                                  newest_first):
            yield _request_dict(row)

    def iter_rows(self, table: str, where: str = "1 = 1", params: Sequence[Any] = (),
                  key: tuple[str, str] = ("id", "id"), limit: int | None = None,
                  newest_first: bool = False) -> Iterator[Any]:
        """Raw rows of ``table`` in ``key`` order, a page at a time (keyset pagination on
        the sort key, so it stays stable while others insert)."""
        order, cmp = ("DESC", "<") if newest_first else ("ASC", ">")
        first, second = key
        sort = f"{first} {order}" if first == second else f"{first} {order}, {second} {order}"
        remaining = limit
        after: tuple[Any, Any] | None = None
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            keyset, kparams = "", []
            if after is not None and first == second:
                keyset, kparams = f" AND {first} {cmp} ?", [after[0]]
            elif after is not None:
                keyset = f" AND ({first} {cmp} ? OR ({first} = ? AND {second} {cmp} ?))"
                kparams = [after[0], after[0], after[1]]
            rows = self.query(
                f"SELECT * FROM {table} WHERE {where}{keyset} ORDER BY {sort} LIMIT ?",
                [*params, *kparams, page])
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1][first], rows[-1][second])
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
        return self._insert("verdicts", self._stamp({
            "created_at": time.time(), "session_id": session_id,
            "answer_request_id": answer_request_id, "compared_request_id": compared_request_id,
            "verdict": verdict, "kept_request_id": kept_request_id}))[0]

    def verdicts(
        self, session_id: int | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        where, params = request_filter(session_id, since, time_column="created_at")
        rows = self.query(f"SELECT * FROM verdicts WHERE {where} ORDER BY id", params)
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
        return self._insert("compare_pairs", self._stamp({
            "created_at": time.time(), "session_id": session_id, "source": source,
            "prompt": text, "prompt_sha256": digest, "answer_request_id": answer_request_id,
            "compared_request_id": compared_request_id}))[0]

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

    def counts(self) -> dict[str, int]:
        """Rows per table (what ``store copy`` compares)."""
        return {t: int(self.scalar(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}


TABLES = ("sessions", "messages", "requests", "verdicts", "compare_pairs")


def request_filter(
    session_id: int | None = None, since: float | None = None, until: float | None = None,
    alias: str = "", time_column: str = "started_at",
) -> tuple[str, list[Any]]:
    """A WHERE clause (always parametrised) selecting rows by session and time: requests by
    when they started, or another table's rows by ``time_column`` (verdicts: created_at)."""
    p = f"{alias}." if alias else ""
    where, params = ["1 = 1"], []
    if session_id is not None:
        where.append(f"{p}session_id = ?")
        params.append(session_id)
    if since is not None:
        where.append(f"{p}{time_column} >= ?")
        params.append(since)
    if until is not None:
        where.append(f"{p}{time_column} < ?")
        params.append(until)
    return " AND ".join(where), params


def _request_dict(row: Any) -> dict[str, Any]:
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
    names = {f.name for f in fields(AttemptRecord)} - {"uid"}
    data = {k: v for k, v in row.items() if k in names}
    data["prompt"] = row.get("prompt") or ""
    data["answer"] = row.get("answer") or ""
    return AttemptRecord(**data)
