"""The OpenTelemetry SDK set up for RouteDeck: a tracer and a meter of our own (the global
providers are left alone), exporting over OTLP/HTTP from the SDK's background threads.

A collector that is down must cost a turn nothing: spans are queued by a BatchSpanProcessor
and metrics read by a PeriodicExportingMetricReader, both on their own threads. Their
exporters are wrapped in :class:`_Guarded`: the first failed export raises ONE notice (the
caller decides where it shows), and for a while afterwards batches are dropped at once
instead of waiting on a dead endpoint again. Closing is bounded: whatever the collector has
not taken within ``flush_s`` is dropped.

Imported only when ``[telemetry] otlp_endpoint`` is set.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from app import __version__
from app.core.config.settings import TelemetryConfig

# The SDK logs export failures at WARNING; with no handler configured Python would print
# them to stderr, over the console's screen. Our one notice replaces them; an application
# that configures logging still receives them (propagation stays on).
logging.getLogger("opentelemetry").addHandler(logging.NullHandler())

RETRY_AFTER_S = 30.0  # how long a failed endpoint is left alone before trying again


class Health:
    """Shared by the span and metric exporters: is the collector down, and was it said?"""

    def __init__(self, endpoint: str, on_notice: Callable[[str], None]) -> None:
        self.endpoint = endpoint
        self._on_notice = on_notice
        self._lock = threading.Lock()
        self.down_until = 0.0
        self.notice: str | None = None
        self.dropped_spans = 0
        self.exported_spans = 0
        self.abandoned = False

    def skipping(self) -> bool:
        return self.abandoned or time.monotonic() < self.down_until

    def failed(self, why: str) -> None:
        with self._lock:
            self.down_until = time.monotonic() + RETRY_AFTER_S
            if self.notice is not None:
                return
            self.notice = (f"telemetry: the OpenTelemetry collector at {self.endpoint} did not "
                           f"take the data ({why}); spans and metrics are dropped while it is "
                           "unreachable. Turns are not affected.")
            notice = self.notice
        try:
            self._on_notice(notice)
        except Exception:  # noqa: BLE001 - a broken notice sink must not kill the exporter
            pass

    def ok(self) -> None:
        self.down_until = 0.0


class _GuardedSpans(SpanExporter):
    def __init__(self, inner: OTLPSpanExporter, health: Health) -> None:
        self.inner = inner
        self.health = health
        self._shut = False

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self.health.skipping():
            self.health.dropped_spans += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - any exporter failure is "not delivered"
            result, why = SpanExportResult.FAILURE, type(exc).__name__
        else:
            why = "export failed"
        if result is SpanExportResult.SUCCESS:
            self.health.ok()
            self.health.exported_spans += len(spans)
        else:
            self.health.dropped_spans += len(spans)
            self.health.failed(why)
        return result

    def shutdown(self) -> None:
        if not self._shut:
            self._shut = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _GuardedMetrics(MetricExporter):
    def __init__(self, inner: OTLPMetricExporter, health: Health) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self.inner = inner
        self.health = health
        self._shut = False

    def export(self, metrics_data: Any, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        if self.health.skipping():
            return MetricExportResult.FAILURE
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:  # noqa: BLE001 - any exporter failure is "not delivered"
            result = MetricExportResult.FAILURE
        if result is MetricExportResult.SUCCESS:
            self.health.ok()
        else:
            self.health.failed("metrics export failed")
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if not self._shut:
            self._shut = True
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class TurnIds(RandomIdGenerator):
    """Trace ids from turn ids: a turn's attempts (retries, fallbacks) share one trace, and
    a trace id found in Tempo or Langfuse is the ledger's ``turn_id``."""

    def __init__(self) -> None:
        self._next = threading.local()

    def use(self, turn_id: str) -> None:
        try:
            value = int(turn_id, 16) if len(turn_id) == 32 else 0
        except ValueError:
            value = 0
        self._next.trace_id = value or None

    def generate_trace_id(self) -> int:
        value = getattr(self._next, "trace_id", None)
        self._next.trace_id = None
        return value or random.getrandbits(128) or 1


def endpoint_for(base: str, signal: str) -> str:
    """``http://collector:4318`` -> ``http://collector:4318/v1/traces`` (the OTLP/HTTP paths
    a collector, Tempo or Langfuse serves under its base URL)."""
    base = base.rstrip("/")
    if base.endswith(f"/v1/{signal}"):
        return base
    if base.endswith(("/v1/traces", "/v1/metrics")):
        base = base.rsplit("/v1/", 1)[0]
    return f"{base}/v1/{signal}"


class Pipeline:
    """Tracer, meter and their exporters; :meth:`close` flushes within a bounded time."""

    def __init__(self, cfg: TelemetryConfig, resource_attrs: dict[str, Any],
                 on_notice: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.health = Health(cfg.otlp_endpoint, on_notice)
        resource = Resource.create({"service.name": cfg.service_name,
                                    "service.version": __version__, **resource_attrs})
        headers = cfg.headers()
        spans = OTLPSpanExporter(endpoint=endpoint_for(cfg.otlp_endpoint, "traces"),
                                 headers=headers, timeout=cfg.timeout_s)
        self._spans = _GuardedSpans(spans, self.health)
        self.ids = TurnIds()
        # Not shut down at exit by the SDK: close() does it, bounded in time.
        self.tracer_provider = TracerProvider(resource=resource, id_generator=self.ids,
                                              shutdown_on_exit=False)
        self._processor = BatchSpanProcessor(
            self._spans, schedule_delay_millis=cfg.batch_delay_s * 1000,
            max_queue_size=2048, max_export_batch_size=512,
            export_timeout_millis=cfg.timeout_s * 1000)
        self.tracer_provider.add_span_processor(self._processor)
        self.tracer = self.tracer_provider.get_tracer("routedeck", __version__)
        self.meter_provider: MeterProvider | None = None
        self.meter: Any = None
        if cfg.metrics:
            metrics = OTLPMetricExporter(endpoint=endpoint_for(cfg.otlp_endpoint, "metrics"),
                                         headers=headers, timeout=cfg.timeout_s)
            self._metrics = _GuardedMetrics(metrics, self.health)
            reader = PeriodicExportingMetricReader(
                self._metrics, export_interval_millis=cfg.metrics_interval_s * 1000,
                export_timeout_millis=cfg.timeout_s * 1000)
            self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader],
                                                shutdown_on_exit=False)
            self.meter = self.meter_provider.get_meter("routedeck", __version__)
        self._closed = False

    def close(self, flush_s: float = 1.0) -> None:
        """Send what is queued if the collector takes it within ``flush_s``; else drop it and
        return at once (the SDK's threads stop in the background)."""
        if self._closed:
            return
        self._closed = True
        millis = int(flush_s * 1000)
        delivered = not self.health.skipping() and self._flush_within(flush_s)
        if delivered:
            if self.meter_provider is not None:
                self.meter_provider.shutdown(timeout_millis=millis)  # the last readings
            self.tracer_provider.shutdown()
            return
        self.health.failed(f"no answer within {flush_s:g} s")
        self.health.abandoned = True
        # Abort the exporters' retry waits; a request already on the wire may still hang
        # until its timeout, so the providers are stopped off the caller's thread.
        self._spans.shutdown()
        if self.meter_provider is not None:
            self._metrics.shutdown()
        threading.Thread(target=self._stop, name="routedeck-telemetry-stop",
                         daemon=True).start()

    def _flush_within(self, seconds: float) -> bool:
        # The SDK's force_flush exports on the calling thread, retries included, whatever
        # timeout it is given: run it on a helper thread and stop waiting after `seconds`.
        done = threading.Event()
        result: list[bool] = []

        def flush() -> None:
            result.append(bool(self.tracer_provider.force_flush()))
            done.set()

        threading.Thread(target=flush, name="routedeck-telemetry-flush", daemon=True).start()
        return done.wait(seconds) and all(result) and not self.health.skipping()

    def _stop(self) -> None:
        if self.meter_provider is not None:
            self.meter_provider.shutdown(timeout_millis=int(self.cfg.timeout_s * 1000))
        self.tracer_provider.shutdown()


def start_span(pipeline: Pipeline, name: str, start_ns: int, attributes: dict[str, Any],
               turn_id: str) -> Any:
    pipeline.ids.use(turn_id)
    return pipeline.tracer.start_span(name, kind=trace.SpanKind.CLIENT, start_time=start_ns,
                                      attributes=attributes)
