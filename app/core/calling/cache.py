"""Response cache: exact match on the normalised conversation + model, and an optional
near-duplicate match on the last prompt (same history, same model).

Stored in SQLite under :func:`app.core.config.paths.cache_dir` (``responses.sqlite3``, separate from
the ledger database). Entries expire after ``ttl_s`` and the least recently used ones are
evicted past ``max_entries``. A hit costs $0; the caller reports what it would have cost.

Near duplicates are found locally and fast, with no embedding API: each prompt's character
5-shingles are sketched with one-permutation MinHash (32 buckets), banded 8 x 4 for LSH
candidate lookup in SQL, and candidates are confirmed with the exact Jaccard similarity of
their shingle sets against ``similarity``. Prompts whose numbers differ never match, since
"add 17 and 25" and "add 17 and 26" are near-identical text with different answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.config import paths
from app.core.config.settings import CacheConfig

FILE_NAME = "responses.sqlite3"
SHINGLE = 5
BUCKETS = 32
BAND_ROWS = 4
NEAR_DUP_MAX_CHARS = 8000  # longer prompts are matched exactly only: sketching them is slow
_WS = re.compile(r"\s+")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_EMPTY = 0xFFFFFFFF

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,
    ctx TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_norm TEXT NOT NULL,
    numbers TEXT NOT NULL,
    tier TEXT NOT NULL,
    answer TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_last_used ON entries(last_used);
CREATE TABLE IF NOT EXISTS bands (
    entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE,
    ctx TEXT NOT NULL,
    band INTEGER NOT NULL,
    value INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bands_lookup ON bands(ctx, band, value);
CREATE INDEX IF NOT EXISTS bands_entry ON bands(entry_id);
"""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    tier: str
    model: str
    answer: str
    input_tokens: int
    output_tokens: int
    usage_source: str
    similarity: float  # 1.0 for an exact match
    created: float


def normalise(text: str) -> str:
    """Case-folded, whitespace-collapsed text: the form prompts are compared in."""
    return _WS.sub(" ", text).strip().casefold()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _split(messages: Sequence[dict[str, str]]) -> tuple[list[list[str]], str]:
    norm = [[m.get("role", ""), normalise(m.get("content") or "")] for m in messages]
    return norm[:-1], (norm[-1][1] if norm else "")


def shingles(text: str) -> set[int]:
    if len(text) <= SHINGLE:
        return {zlib.crc32(text.encode())}
    data = text.encode("utf-8", "surrogatepass")
    return {zlib.crc32(data[i:i + SHINGLE]) for i in range(len(data) - SHINGLE + 1)}


def sketch(sh: set[int]) -> list[int]:
    """One-permutation MinHash: the smallest hash in each of BUCKETS hash-space buckets."""
    mins = [_EMPTY] * BUCKETS
    for h in sh:
        b = h % BUCKETS
        v = h // BUCKETS
        if v < mins[b]:
            mins[b] = v
    return mins


def bands_of(sig: list[int]) -> list[int]:
    return [zlib.crc32(json.dumps(sig[i:i + BAND_ROWS]).encode())
            for i in range(0, BUCKETS, BAND_ROWS)]


def jaccard(a: set[int], b: set[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class ResponseCache:
    """SQLite-backed cache of answers. Safe to share between the tasks of one event loop."""

    def __init__(self, config: CacheConfig, path: Path | None = None, *,
                 store_prompts: bool = True, clock: Callable[[], float] = time.time,
                 on_broken: Callable[[str], None] | None = None) -> None:
        """Open (creating) the cache file; raises sqlite3.Error or OSError when it cannot
        be (a read-only or full disk, a file where the directory should be).

        ``on_broken`` hears, once, that a cache which opened then failed is off for the
        rest of the run; until then each failure is only a miss."""
        self.config = config
        self.store_prompts = store_prompts
        self.clock = clock
        self.path = path or paths.cache_dir() / FILE_NAME
        self._on_broken = on_broken
        self.broken: str | None = None
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            # Proves the file can be written now, not at the first answer.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lookup ------------------------------------------------------------------------------
    def get(self, messages: Sequence[dict[str, str]], model: str) -> CachedAnswer | None:
        """The cached answer for this conversation on this model, or None.

        A cache that cannot be read (locked or damaged file) is a miss: the cache only ever
        saves money, it must not stop a turn.
        """
        if self.broken:
            return None
        try:
            return self._get(messages, model)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return None

    def _get(self, messages: Sequence[dict[str, str]], model: str) -> CachedAnswer | None:
        history, prompt = _split(messages)
        ctx = _digest(model, json.dumps(history))
        key = _digest(ctx, prompt)
        oldest = self.clock() - self.config.ttl_s
        with self._lock:
            row = self._db.execute(
                "SELECT id, tier, answer, input_tokens, output_tokens, usage_source, created "
                "FROM entries WHERE key = ? AND created >= ?", (key, oldest)).fetchone()
            if row is not None:
                return self._hit(row, model, 1.0)
            if not (self.config.near_duplicate and self.store_prompts) or \
                    len(prompt) > NEAR_DUP_MAX_CHARS:
                return None
            return self._near(ctx, prompt, model, oldest)

    def _near(self, ctx: str, prompt: str, model: str, oldest: float) -> CachedAnswer | None:
        sh = shingles(prompt)
        bands = bands_of(sketch(sh))
        where = " OR ".join("(band = ? AND value = ?)" for _ in bands)
        params: list[object] = [ctx]
        for i, v in enumerate(bands):
            params += [i, v]
        ids = [r[0] for r in self._db.execute(
            f"SELECT DISTINCT entry_id FROM bands WHERE ctx = ? AND ({where})", params)]
        if not ids:
            return None
        numbers = json.dumps(_NUM.findall(prompt))
        best: tuple[float, tuple] | None = None
        marks = ",".join("?" * len(ids))
        for row in self._db.execute(
                f"SELECT id, tier, answer, input_tokens, output_tokens, usage_source, created, "
                f"prompt_norm, numbers FROM entries WHERE id IN ({marks}) AND created >= ?",
                [*ids, oldest]):
            if row[8] != numbers:
                continue
            sim = jaccard(sh, shingles(row[7]))
            if sim >= self.config.similarity and (best is None or sim > best[0]):
                best = (sim, row[:7])
        if best is None:
            return None
        return self._hit(best[1], model, best[0])

    def _hit(self, row: tuple, model: str, similarity: float) -> CachedAnswer:
        self._db.execute("UPDATE entries SET hits = hits + 1, last_used = ? WHERE id = ?",
                         (self.clock(), row[0]))
        return CachedAnswer(tier=row[1], model=model, answer=row[2], input_tokens=row[3],
                            output_tokens=row[4], usage_source=row[5], similarity=similarity,
                            created=row[6])

    # --- store -------------------------------------------------------------------------------
    def put(self, messages: Sequence[dict[str, str]], model: str, tier: str, answer: str,
            input_tokens: int, output_tokens: int, usage_source: str = "provider") -> bool:
        """Remember an answer; expired entries go and the cap is enforced (LRU).

        Returns False when the cache could not be written (the turn is unaffected).
        """
        if self.broken:
            return False
        try:
            self._put(messages, model, tier, answer, input_tokens, output_tokens, usage_source)
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def _failed(self, exc: BaseException) -> None:
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return  # another program writes the cache just now: only a miss
        self.broken = f"the response cache is off ({self.path}: {exc}); answers are not cached"
        if self._on_broken is not None:
            self._on_broken(self.broken)

    def _put(self, messages: Sequence[dict[str, str]], model: str, tier: str, answer: str,
             input_tokens: int, output_tokens: int, usage_source: str) -> None:
        history, prompt = _split(messages)
        ctx = _digest(model, json.dumps(history))
        key = _digest(ctx, prompt)
        now = self.clock()
        near = self.config.near_duplicate and self.store_prompts and \
            len(prompt) <= NEAR_DUP_MAX_CHARS
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM entries WHERE key = ? OR created < ?",
                                 (key, now - self.config.ttl_s))
                cur = self._db.execute(
                    "INSERT INTO entries (key, ctx, model, prompt_norm, numbers, tier, answer, "
                    "input_tokens, output_tokens, usage_source, created, last_used) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    # Without store_prompts only the hash is kept: exact matches still work.
                    (key, ctx, model, prompt if self.store_prompts else "",
                     json.dumps(_NUM.findall(prompt)) if self.store_prompts else "[]", tier,
                     answer, input_tokens, output_tokens, usage_source, now, now))
                if near:
                    entry_id = cur.lastrowid
                    self._db.executemany(
                        "INSERT INTO bands (entry_id, ctx, band, value) VALUES (?, ?, ?, ?)",
                        [(entry_id, ctx, i, v)
                         for i, v in enumerate(bands_of(sketch(shingles(prompt))))])
                excess = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] - \
                    self.config.max_entries
                if excess > 0:
                    self._db.execute(
                        "DELETE FROM entries WHERE id IN (SELECT id FROM entries "
                        "ORDER BY last_used ASC, id ASC LIMIT ?)", (excess,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entries")
