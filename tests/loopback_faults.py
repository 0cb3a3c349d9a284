"""What the loopback server (loopback_server.py) can be told to do wrong, and the SSE bytes
it writes for a hostile server: the fault vocabulary tests share, apart from the server.

Faults: HTTP errors (401/403/404/429 + Retry-After/500/503), a stall before the first token,
a stream cut without finish_reason/[DONE], malformed JSON in a chunk, a slow stream, a 200
with a non-JSON body, missing or negative usage fields, a server that accepts the request and
never answers, a raw SSE body written byte for byte, a body dripped one byte at a time, a
gzip-compressed body that inflates to far more than it weighs, and streams that never end.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour. Build them with the class methods below."""

    kind: str  # http | stall | cut | cut_tail | malformed | slow | non_json | bad_usage | hang
    #            | raw | drip | gzip | endless
    status: int = 500
    retry_after: float | None = None
    delay_s: float = 0.0
    after_tokens: int = 2
    tokens_per_s: float = 0.0
    usage: dict[str, Any] | None = None
    body: bytes = b""  # raw: the SSE body as sent; drip: sent one byte per delay_s
    size: int = 0  # gzip: bytes the body inflates to
    mode: str = ""  # endless: line | deltas | text; gzip: what the inflated body is

    @classmethod
    def http(cls, status: int, retry_after: float | None = None) -> Fault:
        """Answer with this HTTP error status (and a Retry-After header if given)."""
        return cls("http", status=status, retry_after=retry_after)

    @classmethod
    def stall(cls, seconds: float) -> Fault:
        """Send the response headers, then wait ``seconds`` before the first token."""
        return cls("stall", delay_s=seconds)

    @classmethod
    def cut(cls, after_tokens: int = 2) -> Fault:
        """Stream ``after_tokens`` tokens, then drop the connection (no finish_reason/[DONE])."""
        return cls("cut", after_tokens=after_tokens)

    @classmethod
    def cut_tail(cls) -> Fault:
        """Stream the whole answer and its finish_reason, then drop the connection before the
        usage chunk and [DONE] (the answer itself is complete)."""
        return cls("cut_tail")

    @classmethod
    def malformed(cls, after_tokens: int = 1) -> Fault:
        """Stream ``after_tokens`` tokens, then a chunk whose data is not valid JSON."""
        return cls("malformed", after_tokens=after_tokens)

    @classmethod
    def slow(cls, tokens_per_s: float) -> Fault:
        """Stream normally but at ``tokens_per_s`` tokens per second."""
        return cls("slow", tokens_per_s=tokens_per_s)

    @classmethod
    def non_json(cls) -> Fault:
        """Answer 200 with an HTML body (a proxy error page, say) instead of JSON/SSE."""
        return cls("non_json")

    @classmethod
    def bad_usage(cls, usage: dict[str, Any] | None = None) -> Fault:
        """Send this usage object (default: negative and missing fields) in the usage chunk."""
        return cls("bad_usage", usage=usage if usage is not None else {"prompt_tokens": -5})

    @classmethod
    def hang(cls) -> Fault:
        """Accept the request and never answer (until the server stops)."""
        return cls("hang")

    @classmethod
    def raw(cls, body: str | bytes) -> Fault:
        """Answer 200 text/event-stream with exactly this body (SSE fields, comments, any
        JSON in the data lines, no [DONE] unless it is in ``body``). See :func:`sse_chunk`."""
        return cls("raw", body=body.encode("utf-8", "surrogatepass") if isinstance(body, str)
                   else body)

    @classmethod
    def drip(cls, seconds_per_byte: float, body: str | bytes | None = None) -> Fault:
        """Send the answer's SSE body (or ``body``) one byte every ``seconds_per_byte``."""
        data = body.encode() if isinstance(body, str) else body
        return cls("drip", delay_s=seconds_per_byte, body=data or b"")

    @classmethod
    def gzip_bomb(cls, size: int, mode: str = "newlines") -> Fault:
        """A ``Content-Encoding: gzip`` SSE body that inflates to ``size`` bytes: blank lines
        (``newlines``, legal SSE), one line with no end (``line``) or one comment line
        (``comment``). The compressed body weighs about size / 1000."""
        return cls("gzip", size=size, mode=mode)

    @classmethod
    def endless(cls, mode: str = "deltas") -> Fault:
        """A stream that never ends: ``line`` (one data line that never gets its newline),
        ``deltas`` (chunks with no content, forever), ``text`` (content tokens, forever, as
        fast as possible) or ``trickle`` (one content token every 50 ms, forever)."""
        return cls("endless", mode=mode)


def sse_chunk(content: Any = None, finish: str | None = None, *, model: str = "m",
              usage: dict[str, Any] | None = None) -> str:
    """The ``data: ...`` line of one chat-completion chunk (and its blank line), with
    ``content`` as given: any JSON value (a number, an object, a lone surrogate)."""
    delta: dict[str, Any] = {} if content is None else {"content": content}
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None and content is None and finish is None:
        choices = []  # the usage chunk of include_usage has no choices
    obj: dict[str, Any] = {"id": "chatcmpl-raw", "object": "chat.completion.chunk",
                           "created": 0, "model": model, "choices": choices}
    if usage is not None:
        obj["usage"] = usage
    return f"data: {json.dumps(obj)}\n\n"


BOMB_BLOCK = 1 << 20


def bomb(size: int, mode: str) -> bytes:
    """Gzip bytes inflating to ``size`` bytes of filler (cached: building one takes time)."""
    key = (size, mode)
    cached = _BOMBS.get(key)
    if cached is not None:
        return cached
    head = {"newlines": b"", "line": b"data: ", "comment": b": "}[mode]
    filler = b"\n" if mode == "newlines" else b"x"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    block = filler * BOMB_BLOCK
    for _ in range(max(1, size // BOMB_BLOCK)):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    data = b"".join(parts)
    _BOMBS[key] = data
    return data


_BOMBS: dict[tuple[int, str], bytes] = {}
