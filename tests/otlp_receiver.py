"""A real OTLP/HTTP receiver on 127.0.0.1 for tests and benchmarks (no collector binary is
available offline): it accepts ``POST /v1/traces`` and ``POST /v1/metrics`` with protobuf
bodies, decodes them with the opentelemetry-proto package (ExportTraceServiceRequest /
ExportMetricsServiceRequest), and keeps what arrived, so tests check exactly what a
collector, Tempo or Langfuse would receive.

``receiver.spans`` are dicts (name, kind, times in ns, trace/span ids in hex, attributes,
status, resource attributes); ``receiver.metrics`` maps a metric name to its data points;
``receiver.raw`` keeps every body as received (the secrets sweep searches it).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER",
              5: "CONSUMER"}


def any_value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


class OTLPReceiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.spans: list[dict[str, Any]] = []
        self.metrics: dict[str, list[dict[str, Any]]] = {}
        self.raw: list[bytes] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._take(self.path, dict(self.headers), body)
                if receiver.status != 200:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = (ExportTraceServiceResponse() if self.path.endswith("/traces")
                         else ExportMetricsServiceResponse()).SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """The base URL to configure as ``[telemetry] otlp_endpoint``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.raw.append(body)
            self.requests.append((path, headers))
            if path.endswith("/v1/traces"):
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    resource = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for sp in ss.spans:
                            self.spans.append({
                                "name": sp.name, "kind": SPAN_KINDS[sp.kind],
                                "start_ns": sp.start_time_unix_nano,
                                "end_ns": sp.end_time_unix_nano,
                                "trace_id": sp.trace_id.hex(), "span_id": sp.span_id.hex(),
                                "parent_span_id": sp.parent_span_id.hex(),
                                "attributes": attributes(sp.attributes),
                                "status_code": sp.status.code,
                                "status_message": sp.status.message,
                                "resource": resource, "scope": ss.scope.name,
                            })
            elif path.endswith("/v1/metrics"):
                req = ExportMetricsServiceRequest.FromString(body)
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            kind = m.WhichOneof("data")
                            points = getattr(m, kind).data_points
                            self.metrics.setdefault(m.name, []).extend(
                                {"kind": kind, "unit": m.unit,
                                 "attributes": attributes(p.attributes),
                                 "value": (p.as_double if p.HasField("as_double")
                                           else p.as_int) if kind in ("sum", "gauge")
                                 else p.sum, "count": getattr(p, "count", None)}
                                for p in points)

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= n:
                    return list(self.spans)
            time.sleep(0.02)
        with self._lock:
            return list(self.spans)

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BlackHole:
    """A TCP endpoint that accepts connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.conns: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for c in self.conns:
            c.close()
        self._sock.close()
