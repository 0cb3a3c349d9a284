"""Waits that give way the moment a turn's cancel event is set (the console's esc key).

One-off waits (a token count, the cache, a backoff sleep) are raced with the event; a
stream is read by a producer task through a queue, so a long answer does not pay for a race
per token, yet a stalled stream still ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()  # the attempt's stream ended normally


class Cancelled(Exception):
    """The turn's cancel event was set while the engine waited."""


_END = object()  # the attempt's stream ended normally


class CancelRace:
    """Awaits that give way as soon as the turn's cancel event is set."""

    def __init__(self, cancel: asyncio.Event | None) -> None:
        self.cancel = cancel
        self._stop: asyncio.Future[Any] | None = None

    async def __call__(self, aw: Awaitable[T]) -> T:
        if self.cancel is None:
            return await aw
        if self.cancel.is_set():
            if asyncio.iscoroutine(aw):
                aw.close()
            raise Cancelled
        if self._stop is None:
            self._stop = asyncio.ensure_future(self.cancel.wait())
        task = asyncio.ensure_future(aw)
        try:
            done, _ = await asyncio.wait({task, self._stop},
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise Cancelled

    async def stream(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        """The chunks of ``deltas``, read by one producer task per attempt; raises
        Cancelled as soon as the cancel event is set, even while no chunk comes."""
        if self.cancel is None:
            async for delta in deltas:
                yield delta
            return
        queue: asyncio.Queue[object] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for delta in deltas:
                    queue.put_nowait(delta)
                queue.put_nowait(_END)
            except Exception as exc:  # noqa: BLE001 - handed to the reader, raised there
                queue.put_nowait(exc)

        producer = asyncio.ensure_future(pump())
        watcher = asyncio.ensure_future(self.cancel.wait())
        watcher.add_done_callback(lambda _: queue.put_nowait(Cancelled()))
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            # Cancelling the producer closes the HTTP stream (the provider's own finally);
            # nothing is awaited here, so closing this generator never blocks.
            watcher.cancel()
            producer.cancel()

    def close(self) -> None:
        if self._stop is not None:
            self._stop.cancel()
