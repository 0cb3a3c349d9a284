"""Every HTTP response body a provider sends is read with bounds.

The SDK's HTTP client would inflate a ``Content-Encoding: gzip`` body whole and read an error
body to its end, however large: a hostile or broken server can then grow the process by
gigabytes (a megabyte of gzip inflates to a gigabyte) long before any deadline is checked.
:func:`http_client` gives the SDK a client whose response hook replaces each body with a
:class:`BoundedBody`, which inflates gzip/deflate itself in small steps, gives the event loop a
turn between steps (so deadlines and cancel fire on time), and stops at a size: an error body
(status >= 400) is cut at :data:`ERROR_BODY_MAX` (its message is all that is kept of it), any
other body fails with :class:`BodyTooLarge` past :data:`BODY_MAX`. Other encodings are refused
(:class:`BadEncoding`): the request says it accepts only gzip and deflate.

The transport logs every request's URL (at INFO), password included when ``base_url``
carries one: :class:`RedactURLs` rewrites those records before any handler sees them.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator
from typing import Any

from app.core.config.urls import redact_urls_in

try:  # the transport of the openai SDK: httpx2 in the SDKs this project pins, else httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx  # type: ignore[no-redef]

ERROR_BODY_MAX = 1 << 20
BODY_MAX = 64 << 20
STEP = 64 << 10  # bytes inflated at a time
ACCEPTED = "gzip, deflate"


class BodyTooLarge(Exception):
    """The server sent more than a reply can sensibly be; the body was abandoned."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the reply was larger than {limit >> 20} MiB")
        self.limit = limit


class BadEncoding(Exception):
    """The body is compressed in a way RouteDeck does not inflate (it asked for gzip only)."""


class _Inflater:
    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # 32 + 15: a gzip or a zlib header, told apart by the data itself.
        self._z = zlib.decompressobj(47)
        self._started = False

    def steps(self, data: bytes) -> list[bytes] | None:
        """Inflate ``data`` a STEP at a time (None when it is not valid for the encoding)."""
        out: list[bytes] = []
        while True:
            try:
                piece = self._z.decompress(data, STEP)
            except zlib.error:
                if self._started or self.encoding != "deflate":
                    return None
                # "deflate" is meant to be zlib-wrapped; some servers send it raw.
                self._z = zlib.decompressobj(-15)
                self._started = True
                continue
            self._started = True
            if piece:
                out.append(piece)
            data = self._z.unconsumed_tail
            if self._z.eof and self._z.unused_data:  # concatenated gzip members
                data = self._z.unused_data
                self._z = zlib.decompressobj(47)
            if not data and len(piece) < STEP:
                return out


class BoundedBody(httpx.AsyncByteStream):
    """A response body read with a size bound, inflated in steps (see the module text)."""

    def __init__(self, inner: Any, encoding: str, limit: int, cut: bool) -> None:
        self._inner = inner
        self._inflater = _Inflater(encoding) if encoding else None
        self._limit = limit
        self._cut = cut  # past the limit: end the body quietly (error bodies) or fail
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._inner:
            pieces = [raw] if self._inflater is None else self._inflater.steps(raw)
            if pieces is None:
                raise BadEncoding("the compressed reply is damaged")
            for i, piece in enumerate(pieces):
                room = self._limit - self.size
                if len(piece) > room:
                    if self._cut:
                        if room > 0:
                            yield piece[:room]
                        return
                    raise BodyTooLarge(self._limit)
                self.size += len(piece)
                yield piece
                if i:
                    await asyncio.sleep(0)  # a bomb inflates with no network wait between

    async def aclose(self) -> None:
        await self._inner.aclose()


async def bound_response(response: Any) -> None:
    """The client's response hook: from here on the body is a :class:`BoundedBody`."""
    values = response.headers.get_list("content-encoding", split_commas=True)
    encodings = [v.strip().lower() for v in values if v.strip().lower() != "identity"]
    if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
        await response.aclose()
        raise BadEncoding(f"the reply is compressed as '{', '.join(encodings)}', which was not "
                          f"asked for (accepted: {ACCEPTED})")
    encoding = "deflate" if encodings == ["deflate"] else "gzip" if encodings else ""
    # The body handed on is plain bytes, so the client must not try to inflate it again.
    if "content-encoding" in response.headers:
        del response.headers["content-encoding"]
    error = response.status_code >= 400
    response.stream = BoundedBody(response.stream, encoding,
                                  ERROR_BODY_MAX if error else BODY_MAX, cut=error)


class RedactURLs(logging.Filter):
    """Log records of the HTTP stack, with the userinfo of any URL in them masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            return True
        safe = redact_urls_in(text)
        if safe != text:
            record.msg, record.args = safe, None
        return True


_LOGGERS = ("httpx2", "httpx", "httpcore2", "httpcore", "openai", "openai._base_client")


def _redact_logs() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactURLs) for f in logger.filters):
            logger.addFilter(RedactURLs())


def http_client(**kwargs: Any) -> Any:
    """The HTTP client the SDK is given: its defaults, plus the bounds of this module."""
    import openai

    _redact_logs()
    headers = {"Accept-Encoding": ACCEPTED, **kwargs.pop("headers", {})}
    return openai.DefaultAsyncHttpxClient(headers=headers,
                                          event_hooks={"response": [bound_response]}, **kwargs)
