"""A shipped model file, loaded once per process on first use.

The router's weights and the task classifier are read the first time a decision needs them
(start-up stays short), by one thread even when several ask at once, and attached to the
merged gram index (lookup.py). A missing or unreadable file is not an error here: ``get``
returns None and ``error`` says why, and the caller falls back (the v1 rules, the cue vote).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Shipped(Generic[T]):
    def __init__(self, load: Callable[[], T], attach: Callable[[T], None]) -> None:
        self._load, self._attach = load, attach
        self._lock = threading.Lock()
        self._model: T | None = None
        self._loaded = False
        self.error: str | None = None  # why the file could not be used, if it could not

    def get(self) -> T | None:
        # Read on every decision: the loaded case is one attribute test.
        if self._loaded:
            return self._model
        with self._lock:
            if not self._loaded:
                try:
                    self._model = self._load()
                    self._attach(self._model)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                    self._model = None
                self._loaded = True
        return self._model

    @contextlib.contextmanager
    def using(self, model: T | None) -> Iterator[None]:
        """Serve ``model`` (None: as if the file were missing) instead, for the block: the
        trainer scores with weights it just wrote. It is not attached to the merged index,
        whose consumers then read the model's own tables."""
        saved = self._model, self._loaded
        with self._lock:
            self._model, self._loaded = model, True
        try:
            yield
        finally:
            with self._lock:
                self._model, self._loaded = saved
