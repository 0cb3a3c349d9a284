"""Shared pieces of the reliability suite: CLI runner, ledger access and the fault matrix.

The fault matrix is one table used by the CLI (``routedeck ask``) and the console (Pilot)
tests, so both faces are held to the same documented behaviour. Each case names the fault,
how it is injected into the loopback server (or which unreachable base_url is used), the
config knobs that keep it fast, and what must be true afterwards: the final status of the
turn and the ``(status, error_kind)`` of every ledger row, oldest first.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.cli import cli
from tests.fakes import ledger_rows  # noqa: F401 - re-exported for the reliability tests
from tests.loopback_server import Fault, LoopbackServer, config_toml


def run_cli(*args: str, config: Path | None = None, input: str | None = None):
    """Invoke ``routedeck`` in-process (exceptions propagate: a traceback fails the test)."""
    argv = (["--config", str(config)] if config is not None else []) + list(args)
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)



def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass(frozen=True)
class FaultCase:
    """One provider fault and its documented end state."""

    id: str
    inject: Callable[[LoopbackServer], None]
    final: str  # TurnFinished.status: ok | error
    rows: list[tuple[str, str | None]]  # (status, error_kind) of each ledger row
    words: tuple[str, ...] = ()  # the user-facing message mentions these
    base_url: str | None = None  # None: the loopback server
    config: dict[str, Any] = field(default_factory=dict)  # config_toml keywords
    usage_source: str | None = None  # of the ok row, when it matters

    def config_text(self, server: LoopbackServer) -> str:
        kw = {"max_retries": 1, "backoff_s": 0.01, "cache": False, **self.config}
        url = self.base_url.replace("{closed}", str(closed_port())) if self.base_url else None
        return config_toml(url or server.base_url, **kw)


def _next(*faults: Fault, model: str | None = None) -> Callable[[LoopbackServer], None]:
    return lambda s: s.fail_next(*faults, model=model)


def _always(fault: Fault, model: str | None = None) -> Callable[[LoopbackServer], None]:
    return lambda s: s.fail_always(fault, model=model)


def _no_usage(s: LoopbackServer) -> None:
    s.send_usage = False


def _nothing(s: LoopbackServer) -> None:
    return None


ERR_ALL_TIERS = 6  # 3 tiers x (1 try + 1 retry) before the turn gives up
# A stalled or hung server times out after 1 s (the retry then answers). Not shorter: the
# first-token deadline starts before the request is sent, and a console busy composing its
# first screen on a loaded 2-core CI box can eat a few hundred milliseconds of it.
STALL = {"first_token_timeout_s": 1.0}
# Refused connections and failed lookups fail at once; the connect timeout is a backstop.
UNREACHABLE = {"connect_timeout_s": 1.0}

FAULTS: list[FaultCase] = [
    FaultCase("401", _always(Fault.http(401)), "error", [("error", "auth")],
              ("rejected the API key",)),
    FaultCase("404", _always(Fault.http(404)), "error", [("error", "not_found")],
              ("was not found", "[[tiers]]")),
    FaultCase("429-retry-after", _next(Fault.http(429, retry_after=0.05)), "ok",
              [("error", "rate_limit"), ("ok", None)]),
    FaultCase("429-retry-after-too-long", _always(Fault.http(429, retry_after=30)), "error",
              [("error", "rate_limit")] * 3, ("rate limited",)),
    FaultCase("500-fallback", _always(Fault.http(500), model="cheap-model"), "ok",
              [("error", "server"), ("error", "server"), ("ok", None)]),
    FaultCase("500-everywhere", _always(Fault.http(500)), "error",
              [("error", "server")] * ERR_ALL_TIERS, ("HTTP 500",)),
    FaultCase("stall", _next(Fault.stall(3.0)), "ok", [("error", "timeout"), ("ok", None)],
              config=STALL),
    FaultCase("cut-stream", _next(Fault.cut(2)), "ok", [("truncated", "truncated"), ("ok", None)]),
    FaultCase("malformed-chunk", _next(Fault.malformed(1)), "ok",
              [("error", "bad_response"), ("ok", None)]),
    FaultCase("non-json-200", _always(Fault.non_json()), "error",
              [("error", "bad_response")] * ERR_ALL_TIERS, ("instead of an event stream",)),
    FaultCase("hang", _next(Fault.hang()), "ok", [("error", "timeout"), ("ok", None)],
              config=STALL),
    FaultCase("usage-negative", _next(Fault.bad_usage({"prompt_tokens": -5,
                                                       "completion_tokens": -1})),
              "ok", [("ok", None)], usage_source="estimated"),
    FaultCase("usage-missing-field", _next(Fault.bad_usage({"prompt_tokens": 7})), "ok",
              [("ok", None)], usage_source="estimated"),
    FaultCase("usage-absent", _no_usage, "ok", [("ok", None)], usage_source="estimated"),
    FaultCase("dns-failure", _nothing, "error", [("error", "connection")] * ERR_ALL_TIERS,
              ("cannot reach", "nonexistent.invalid"),
              base_url="http://nonexistent.invalid/v1", config=UNREACHABLE),
    FaultCase("closed-port", _nothing, "error", [("error", "connection")] * ERR_ALL_TIERS,
              ("cannot reach",), base_url="http://127.0.0.1:{closed}/v1", config=UNREACHABLE),
]


def _error_bomb(inflated: int) -> bytes:
    """A gzip body that inflates to an OpenAI-style error of ``inflated`` bytes."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(b'{"error": {"message": "')]
    block = b" " * (1 << 20)
    for _ in range(inflated >> 20):
        parts.append(comp.compress(block))
    parts += [comp.compress(b'"}}'), comp.flush()]
    return b"".join(parts)


class ErrorServer:
    """A server that answers every request with an HTTP error (``status``, or the statuses
    of a list in turn) and an OpenAI-style error body whose message is ``message`` or what
    ``message(headers)`` returns (hostile text: escapes, markup, echoed headers). With
    ``gzip_bomb`` the body is instead gzip that inflates to that many bytes."""

    def __init__(self, status: int | list[int], message: str | Callable[[dict[str, str]], str],
                 gzip_bomb: int = 0):
        statuses = status if isinstance(status, list) else [status]
        self.calls = 0
        owner = self
        bomb = _error_bomb(gzip_bomb) if gzip_bomb else b""

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = statuses[owner.calls % len(statuses)]
                owner.calls += 1
                text = message(dict(self.headers)) if callable(message) else message
                body = bomb or json.dumps({"error": {"message": text, "type": "server_error",
                                                     "param": None, "code": None}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if bomb:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ErrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
