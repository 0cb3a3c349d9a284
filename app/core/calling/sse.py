"""Server-sent events, read with bounds (the HTML standard's event-stream format).

Every field the format allows is accepted: ``data`` (several lines join with "\\n"),
``event``, ``id``, ``retry``, comments (``:``) and unknown fields (ignored); a block without
data dispatches nothing; CR, LF and CRLF all end a line. What is bounded: the length of one
line (:data:`MAX_LINE`) and the bytes of the whole stream (``budget``), so a server that
never sends a newline, or never stops, costs a bounded amount of memory and time. Runs of
blank lines and comment lines are dropped in bulk, so a flood of them cannot keep the
event loop busy line by line.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_LINE = 1 << 20
_COMMENTS = re.compile(rb"^:[^\n]*\n", re.M)
_BLANKS = re.compile(rb"\n\n\n+")


class StreamTooLarge(Exception):
    """A line or the whole stream went past its bound; the stream was abandoned."""


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str  # "message" unless the block named another type
    data: str
    id: str | None = None
    retry: int | None = None


class _Lines:
    """Bytes in, complete lines out (without their line ends)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.pending = bytearray()  # appended in place: a line dripped byte by byte stays linear
        self.after_cr = False  # the last chunk ended in CR: a LF first in the next is its pair

    def feed(self, data: bytes) -> list[bytes]:
        if self.after_cr and data.startswith(b"\n"):
            data = data[1:]
        if data:
            self.after_cr = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = data.rfind(b"\n")
        if cut < 0:
            self.pending += data
            self._check(self.pending)
            return []
        block = bytes(self.pending) + data[:cut + 1]
        self.pending = bytearray(data[cut + 1:])
        self._check(self.pending)
        block = _BLANKS.sub(b"\n\n", _COMMENTS.sub(b"", block))
        lines = block.split(b"\n")
        lines.pop()  # what follows the last line end (nothing)
        for line in lines:
            self._check(line)
        return lines

    def _check(self, line: bytes) -> None:
        if len(line) > self.max_line:
            raise StreamTooLarge(f"the server sent a line longer than {self.max_line >> 10} KiB "
                                 "(an event stream's lines are short)")


class _Fields:
    """Lines in, events out: the standard's interpretation of an event stream."""

    def __init__(self) -> None:
        self.data: list[str] = []
        self.event = ""
        self.id: str | None = None
        self.retry: int | None = None

    def line(self, raw: bytes) -> ServerEvent | None:
        if not raw:
            return self.dispatch()
        text = raw.decode("utf-8", "replace")
        if text.startswith(":"):
            return None
        name, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name == "id" and "\x00" not in value:
            self.id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def dispatch(self) -> ServerEvent | None:
        data, event = self.data, self.event
        self.data, self.event = [], ""
        if not data:
            return None
        return ServerEvent(event or "message", "\n".join(data), self.id, self.retry)


async def read_events(chunks: AsyncIterator[bytes], budget: int,
                      max_line: int = MAX_LINE) -> AsyncIterator[ServerEvent]:
    """The events of a byte stream; raises :class:`StreamTooLarge` past ``budget`` bytes or a
    line longer than ``max_line``. An event whose blank line never came is dispatched at the
    end only when its last line was complete (a stream cut mid-line yields nothing more)."""
    lines, fields = _Lines(max_line), _Fields()
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > budget:
            raise StreamTooLarge(f"the server sent more than {budget >> 10} KiB for one answer")
        for line in lines.feed(chunk):
            event = fields.line(line)
            if event is not None:
                yield event
    if not lines.pending:
        event = fields.dispatch()
        if event is not None:
            yield event
