"""What a console session runs on: the store, the response cache and the engine.

Each is opened on first use and closed once. The store is the ledger's only source: when the
file in the data dir cannot be opened (or turns out damaged), an in-memory store takes its
place for this run (so the panel still adds up), and :attr:`Services.problems` says why
nothing is saved. The engine records through a :class:`~app.core.ledger.writer.LedgerWriter`,
so a row the store refuses is kept, retried and spooled rather than lost, and
:attr:`Services.write_outcome` says (after closing) what could not be written. The cache is
optional: when it cannot open, turns go on without it (said once, in :attr:`notices`). One
engine serves every session of the process (switching sessions only re-labels it), so its
HTTP clients are made once and closed once.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from app.core.config.settings import Settings
from app.core.ledger.records import Recorder
from app.core.ledger.store import SQLiteStore, Store, StoreError, open_store, spool_dir
from app.core.ledger.writer import LedgerWriter, WriteOutcome
from app.core.telemetry import instrument, shutdown


class TurnEngine(Protocol):
    """The engine as a session uses it (:class:`app.core.calling.engine.Engine`)."""

    session_id: int | None

    def run_turn(self, prompt: str, history: list[dict[str, str]], state: Any = None,
                 budget: Any = None, use_cache: bool = True, tier: str | None = None,
                 cancel: Any = None, fallback: bool = True, system: str | None = None,
                 continues: Any = None, memory: Any = None) -> AsyncIterator[Any]: ...

    async def aclose(self) -> None: ...


EngineFactory = Callable[..., TurnEngine]


class Services:
    def __init__(self, settings: Settings, *, engine_factory: EngineFactory | None = None,
                 store: Store | None = None, use_disk: bool = True,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._engine_factory = engine_factory
        self._engine: TurnEngine | None = None
        self._cache: Any | None = None
        self._store = store
        self._use_disk = use_disk
        self._lock = threading.RLock()
        self.problems: list[str] = []
        self._recorder: Any = None  # the store, or the telemetry wrapper around it
        self._writer: LedgerWriter | None = None
        self.write_outcome: WriteOutcome | None = None  # set when closed
        self._telemetry_notice: str | None = None
        self._on_notice = on_notice
        self._notices: list[str] = []  # said once each
        self._told = 0  # how many of them a face has taken
        self._was_persistent = False

    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open_store()
        return self._store

    def _open_store(self) -> Store:
        if self._use_disk:
            try:
                return open_store(self.settings)
            except (StoreError, OSError) as exc:
                self.problems.append(f"history and ledger are not saved: {exc}")
        return SQLiteStore.in_memory(store_prompts=self.settings.privacy.store_prompts)

    def fall_back(self, reason: str) -> Store:
        """The store turned out unusable after it opened (a damaged file): this run goes on
        with an in-memory one, and :attr:`problems` says why nothing is saved. Only before
        the engine exists (it records into the store it was given)."""
        with self._lock:
            old, self._store = self._store, None
            if old is not None:
                old.close()
            self.problems.append(f"history and ledger are not saved: {reason}")
            self._store = SQLiteStore.in_memory(
                store_prompts=self.settings.privacy.store_prompts)
            return self._store

    def notice(self, text: str) -> None:
        """Something the user should hear once (the cache is off, say)."""
        with self._lock:
            if text not in self._notices and text not in self.problems:
                self._notices.append(text)
                if self._on_notice is not None:
                    self._on_notice(text)

    def take_notices(self) -> list[str]:
        """The notices not shown yet (each is returned once)."""
        with self._lock:
            out, self._told = self._notices[self._told:], len(self._notices)
            return out

    @property
    def persistent(self) -> bool:
        """Whether the rows go to a real ledger (still known after :meth:`close`)."""
        if self._store is None:
            return self._was_persistent
        return not self._store.in_memory_only

    def engine(self, session_id: int | None) -> TurnEngine:
        # warm_up() asks from a thread while the first prompt may ask on the event loop:
        # the lock makes both get the same engine (and one cache connection).
        with self._lock:
            if self._engine is None:
                factory = self._engine_factory
                if factory is None:
                    from app.core.calling.engine import Engine

                    factory = Engine
                store = self.store()
                self._writer = LedgerWriter(store, spool_dir(store))
                recorder: Recorder = self._writer
                # [telemetry]: spans and metrics of every attempt, after the store wrote it.
                self._recorder = instrument(recorder, self.settings,
                                            on_notice=self._on_telemetry_notice)
                self._engine = factory(self.settings, recorder=self._recorder,
                                       cache=self._open_cache(), session_id=session_id)
            self._engine.session_id = session_id
            return self._engine

    def _on_telemetry_notice(self, text: str) -> None:
        # Called from an exporter thread: kept for the console to show, never printed here
        # (a headless caller that can print passes on_notice).
        self._telemetry_notice = text
        if self._on_notice is not None:
            self._on_notice(text)

    @property
    def telemetry_notice(self) -> str | None:
        """Once the OpenTelemetry collector could not be reached: the one message to show."""
        return self._telemetry_notice

    def _open_cache(self) -> Any | None:
        if not self.settings.cache.enabled:
            return None
        from app.core.calling.cache import ResponseCache

        try:
            self._cache = ResponseCache(self.settings.cache,
                                        store_prompts=self.settings.privacy.store_prompts,
                                        on_broken=self.notice)
        except Exception as exc:  # noqa: BLE001 - sqlite3/OS errors alike: the cache is optional
            self.notice(f"the response cache is off ({type(exc).__name__}: {exc}); answers "
                        "are not cached")
            return None
        return self._cache

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.aclose()
        self.close()

    def close(self) -> None:
        recorder, self._recorder = self._recorder, None
        shutdown(recorder)
        writer, self._writer = self._writer, None
        if writer is not None:
            self.write_outcome = writer.close()
        cache, self._cache = self._cache, None
        if cache is not None:
            cache.close()
        store, self._store = self._store, None
        if store is not None:
            self._was_persistent = not store.in_memory_only
            store.close()
