"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` (SSE streaming and plain JSON) and ``GET /v1/models``
over HTTP/1.1 with chunked transfer encoding, like hosted and local servers do, so the real
``openai`` SDK is exercised end to end: no monkeypatching.

Behaviour is controlled from the test through the server object (thread-safe):

* ``server.reply`` / ``server.replies[model]``: the answer text (split into word tokens).
* ``server.send_usage``: send the final usage chunk when the client asks for it.
* ``server.logprobs_supported`` / ``server.logprob``: per-token logprob returned on request.
* ``server.known_models``: when not None, other model names get a 404 ``model_not_found``.
* ``server.control.honour_max_tokens = False``: ignore the request's max_tokens.
* ``server.control.answered_by = {"gpt-4o": "gpt-4o-2024-08-06"}``: the model the reply names
  (a dated snapshot, or the model a router such as OpenRouter picked); else the request's.
* ``server.fail_next(*faults, model=None)``: one-shot faults for the next requests (of that
  model, or of any model when ``model`` is None), consumed in order.
* ``server.fail_always(fault, model=None)``: a fault for every request (of that model).
* ``server.requests``: every request received (path, headers, parsed JSON body).

Faults (see :class:`Fault` in loopback_faults.py): HTTP errors (401/403/404/429 +
Retry-After/500/503), a stall before the first token, a stream cut without
finish_reason/[DONE], malformed JSON in a chunk, a slow stream, a 200 with a non-JSON body,
missing or negative usage fields, and a server that accepts the request and never answers.
Hostile servers (the reliability suite): a raw SSE body written byte for byte (any field, any
content value, lone surrogates), a body dripped one byte at a time, a gzip-compressed body
that inflates to far more than it weighs, and streams that never end (an endless line,
endless empty deltas, endless text).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.loopback_faults import ERROR_TYPES, Fault, bomb, sse_chunk

__all__ = ["Fault", "LoopbackServer", "Recorded", "config_toml", "sse_chunk", "tokenize"]

@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@dataclass
class _Control:
    reply: str = "Hello from the loopback server."
    replies: dict[str, str] = field(default_factory=dict)
    send_usage: bool = True
    logprobs_supported: bool = True
    logprob: float = -0.05
    known_models: set[str] | None = None
    tokens_per_s: float = 0.0  # 0: as fast as possible
    honour_max_tokens: bool = True  # False: a server that ignores max_tokens
    answered_by: dict[str, str] = field(default_factory=dict)  # request model -> reply's


def tokenize(text: str) -> list[str]:
    """Split text into word tokens that concatenate back to it ("Hello", " from", ...)."""
    out: list[str] = []
    cur = ""
    for ch in text:
        if ch == " " and cur.strip():
            out.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of concurrent clients (load tests)
    # then sees SYNs dropped and 1 s connect timeouts. Real servers accept far more.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that cancel or time out reset their connection; that is expected here.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Threaded OpenAI-compatible server; use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.control = _Control()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._once: list[tuple[str | None, Fault]] = []
        self._always: dict[str | None, Fault] = {}
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------
    @property
    def reply(self) -> str:
        return self.control.reply

    @reply.setter
    def reply(self, text: str) -> None:
        self.control.reply = text

    @property
    def replies(self) -> dict[str, str]:
        return self.control.replies

    @property
    def send_usage(self) -> bool:
        return self.control.send_usage

    @send_usage.setter
    def send_usage(self, value: bool) -> None:
        self.control.send_usage = value

    @property
    def logprobs_supported(self) -> bool:
        return self.control.logprobs_supported

    @logprobs_supported.setter
    def logprobs_supported(self, value: bool) -> None:
        self.control.logprobs_supported = value

    @property
    def logprob(self) -> float:
        return self.control.logprob

    @logprob.setter
    def logprob(self, value: float) -> None:
        self.control.logprob = value

    @property
    def known_models(self) -> set[str] | None:
        return self.control.known_models

    @known_models.setter
    def known_models(self, value: set[str] | None) -> None:
        self.control.known_models = value

    def fail_next(self, *faults: Fault, model: str | None = None) -> None:
        """Queue one-shot faults for the next requests (of ``model``, or any model)."""
        with self._lock:
            self._once.extend((model, f) for f in faults)

    def fail_always(self, fault: Fault | None, model: str | None = None) -> None:
        """Apply ``fault`` to every request (of ``model``, or any); None removes it."""
        with self._lock:
            if fault is None:
                self._always.pop(model, None)
            else:
                self._always[model] = fault

    def reset(self) -> None:
        """Forget faults, recorded requests and reply settings."""
        with self._lock:
            self._once.clear()
            self._always.clear()
            self.requests.clear()
        self.control = _Control()

    def bodies(self, path_suffix: str = "/chat/completions") -> list[Any]:
        """JSON bodies of the recorded requests to a path (chat completions by default)."""
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith(path_suffix)]

    def _take_fault(self, model: str) -> Fault | None:
        with self._lock:
            for i, (m, f) in enumerate(self._once):
                if m is None or m == model:
                    del self._once[i]
                    return f
            return self._always.get(model) or self._always.get(None)

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Endpoint root, as a provider's ``base_url`` (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LoopbackServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._stop.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        # Release stalled/hanging handlers first so shutdown does not wait on them.
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackServer
    protocol_version = "HTTP/1.1"
    # Real servers (uvicorn, llama.cpp) set TCP_NODELAY; without it, small SSE writes on a
    # kept-alive connection wait ~40 ms for delayed ACKs and TTFT figures become noise.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # Keep test output clean; requests are recorded on the server object instead.
        return

    # --- plumbing --------------------------------------------------------------------------
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, obj: Any) -> None:
        payload = obj if isinstance(obj, str) else json.dumps(obj)
        self._chunk(f"data: {payload}\n\n".encode())

    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early when the server stops; True if the server is stopping."""
        return self.owner._stop.wait(seconds)

    # --- routes ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        with self.owner._lock:
            self.owner.requests.append(Recorded(self.path, _lower(self.headers), None))
        if self.path.rstrip("/").endswith("/models"):
            fault = self.owner._take_fault("")  # a fault for any model applies here too
            if fault is not None and fault.kind == "http":
                self._http_error(fault, "")
                return
            models = sorted(self.owner.known_models or {"loopback-model"})
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in models
            ]})
            return
        self._send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        with self.owner._lock:
            self.owner.requests.append(Recorded(self.path, _lower(self.headers), body))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
            return
        if not isinstance(body, dict) or "messages" not in body:
            self._send_json(400, {"error": {"message": "body must be JSON with messages",
                                            "type": "invalid_request_error"}})
            return
        try:
            self._complete(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (cancelled or timed out): nothing left to answer.
            self.close_connection = True

    def _complete(self, body: dict[str, Any]) -> None:
        ctl = self.owner.control
        model = str(body.get("model", ""))
        fault = self.owner._take_fault(model)
        if fault is None and ctl.known_models is not None and model not in ctl.known_models:
            fault = Fault.http(404)
        if fault is not None and fault.kind == "hang":
            self._wait(3600)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "http":
            self._http_error(fault, model)
            return
        if fault is not None and fault.kind == "non_json":
            data = b"<html><body>502 Bad Gateway (proxy)</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if fault is not None and fault.kind in ("raw", "gzip", "endless"):
            self._hostile(fault, model)
            return
        text = ctl.replies.get(model, ctl.reply)
        toks = tokenize(text)
        want_lp = bool(body.get("logprobs")) and ctl.logprobs_supported
        prompt_tokens = sum(len(str(m.get("content") or "").split()) + 4
                            for m in body.get("messages") or [])
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": len(toks),
                                 "total_tokens": prompt_tokens + len(toks)}
        if fault is not None and fault.kind == "bad_usage":
            usage = dict(fault.usage or {})
        max_toks = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if ctl.honour_max_tokens and isinstance(max_toks, int) and len(toks) > max_toks:
            toks, finish = toks[:max_toks], "length"
        if not body.get("stream"):
            self._non_stream(model, toks, finish, usage, want_lp)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-loopback", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": ctl.answered_by.get(model, model)}
        if fault is not None and fault.kind == "drip":
            self._drip(fault, toks, finish, usage)
            return
        if fault is not None and fault.kind == "stall" and self._wait(fault.delay_s):
            return
        tps = fault.tokens_per_s if fault is not None and fault.kind == "slow" else ctl.tokens_per_s
        self._sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]})
        for i, tok in enumerate(toks):
            if fault is not None and fault.kind in ("cut", "malformed") and i >= fault.after_tokens:
                if fault.kind == "malformed":
                    self._sse('{"id": "chatcmpl-loopback", "choices": [{"delta": {"content": "oops"')
                    self._chunk(b"")
                else:
                    # Drop the connection without the terminating chunk: a cut stream.
                    self.close_connection = True
                return
            choice: dict[str, Any] = {"index": 0, "delta": {"content": tok}, "finish_reason": None}
            if want_lp:
                choice["logprobs"] = {"content": [{"token": tok, "logprob": ctl.logprob,
                                                   "bytes": list(tok.encode()), "top_logprobs": []}]}
            self._sse({**base, "choices": [choice]})
            if tps > 0 and self._wait(1.0 / tps):
                return
        self._sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if fault is not None and fault.kind == "cut_tail":
            self.close_connection = True
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage and ctl.send_usage:
            self._sse({**base, "choices": [], "usage": usage})
        self._sse("[DONE]")
        self._chunk(b"")

    # --- hostile servers ---------------------------------------------------------------------
    def _event_stream_headers(self, extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _hostile(self, fault: Fault, model: str) -> None:
        if fault.kind == "raw":
            self._event_stream_headers()
            self._chunk(fault.body)
            self._chunk(b"")
            return
        if fault.kind == "gzip":
            self._event_stream_headers({"Content-Encoding": "gzip"})
            data = bomb(fault.size, fault.mode)
            for i in range(0, len(data), 16384):
                self._chunk(data[i:i + 16384])
            self._chunk(b"")
            return
        self._event_stream_headers()
        if fault.mode == "line":
            self._chunk(b'data: {"choices": [{"delta": {"content": "')
            block = b"a" * 65536
            while not self.owner._stop.is_set():
                self._chunk(block)
            return
        if fault.mode == "trickle":
            while not self._wait(0.05):
                self._chunk(sse_chunk("drop ", model=model).encode())
            return
        piece = sse_chunk(None, model=model) if fault.mode == "deltas" else \
            sse_chunk("endless ", model=model)
        block = piece.encode() * 64
        while not self.owner._stop.is_set():
            self._chunk(block)

    def _drip(self, fault: Fault, toks: list[str], finish: str, usage: dict[str, Any]) -> None:
        body = fault.body or ("".join(sse_chunk(t) for t in toks) + sse_chunk(None, finish)
                              + sse_chunk(usage=usage) + "data: [DONE]\n\n").encode()
        for i in range(len(body)):
            self._chunk(body[i:i + 1])
            if self._wait(fault.delay_s):
                return
        self._chunk(b"")

    def _non_stream(self, model: str, toks: list[str], finish: str, usage: dict[str, Any],
                    want_lp: bool) -> None:
        text = "".join(toks)
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": finish}
        if want_lp:
            choice["logprobs"] = {"content": [
                {"token": t, "logprob": self.owner.control.logprob, "bytes": list(t.encode()),
                 "top_logprobs": []} for t in toks]}
        obj: dict[str, Any] = {"id": "chatcmpl-loopback", "object": "chat.completion",
                               "created": int(time.time()),
                               "model": self.owner.control.answered_by.get(model, model),
                               "choices": [choice]}
        if self.owner.control.send_usage:
            obj["usage"] = usage
        self._send_json(200, obj)

    def _http_error(self, fault: Fault, model: str) -> None:
        status = fault.status
        messages = {
            401: "Incorrect API key provided.",
            403: "You are not allowed to use this model.",
            404: f"The model `{model}` does not exist or you do not have access to it.",
            429: "Rate limit reached. Please try again later.",
        }
        err: dict[str, Any] = {"message": messages.get(status, "The server had an error."),
                               "type": ERROR_TYPES.get(status, "server_error"), "param": None,
                               "code": "model_not_found" if status == 404 else None}
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        # The SDK also honours retry-after-ms; sending the precise value keeps tests fast.
        if fault.retry_after is not None:
            headers["retry-after-ms"] = str(int(fault.retry_after * 1000))
        self._send_json(status, {"error": err}, headers)


# --- config helper ------------------------------------------------------------------------
TEST_TIERS: tuple[tuple[str, str, float, float], ...] = (
    # name, model, USD per 1M input tokens, USD per 1M output tokens
    ("cheap", "cheap-model", 0.15, 0.60),
    ("mid", "mid-model", 1.00, 4.00),
    ("premium", "premium-model", 2.50, 10.00),
)


def config_toml(
    base_url: str,
    *,
    key_env: str = "",
    connect_timeout_s: float = 1.0,
    first_token_timeout_s: float = 3.0,
    total_timeout_s: float = 10.0,
    max_retries: int = 1,
    backoff_s: float = 0.01,
    retry_after_max_s: float = 0.2,
    fallback_model: str | None = None,
    cascade: bool = False,
    min_mean_logprob: float = -1.0,
    cache: bool = True,
    near_duplicate: bool = False,
    extra: str = "",
) -> str:
    """TOML text of a config whose cheap/mid/premium tiers all point at ``base_url``.

    ``key_env=""`` makes the provider keyless (like Ollama); otherwise the provider reads its
    key from that environment variable. Retries and backoff are short so fault tests finish
    quickly; the first-token timeout (3 s) leaves room for a loaded CI machine, so tests that
    want a stall to time out pass a small ``first_token_timeout_s`` (e.g. 0.3) themselves.
    ``extra`` is appended verbatim (more sections).
    """
    tiers = "\n".join(
        f'[[tiers]]\nname = "{n}"\nprovider = "loop"\nmodel = "{m}"\n'
        f"input_per_mtok = {i}\noutput_per_mtok = {o}\n"
        for n, m, i, o in TEST_TIERS
    )
    fallback = f'fallback_model = "{fallback_model}"\n' if fallback_model else ""
    return (
        f'[providers.loop]\nbase_url = "{base_url}"\napi_key_env = "{key_env}"\n'
        f"connect_timeout_s = {connect_timeout_s}\nfirst_token_timeout_s = {first_token_timeout_s}\n"
        f"total_timeout_s = {total_timeout_s}\n\n{tiers}\n"
        f"[router]\nthresholds = [0.33, 0.66]\n\n"
        f"[engine]\nmax_retries = {max_retries}\nbackoff_s = {backoff_s}\n"
        f"retry_after_max_s = {retry_after_max_s}\n{fallback}\n"
        f"[cascade]\nenabled = {str(cascade).lower()}\nmin_mean_logprob = {min_mean_logprob}\n\n"
        f"[cache]\nenabled = {str(cache).lower()}\nnear_duplicate = {str(near_duplicate).lower()}\n"
        f"{extra}"
    )
