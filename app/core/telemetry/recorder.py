"""A Recorder that writes each attempt to the ledger, then exports it as a span and metrics.

The store comes first: the ledger is the record, telemetry a copy. Exporting never raises
into the engine and never waits on the network (the SDK queues the span; its own threads
send it), so a collector that is down costs a turn nothing; the first failure gives one
notice. The span's start and end are the attempt's own times, taken from the record.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from app.core.config.settings import Settings
from app.core.ledger.identity import Identity
from app.core.ledger.records import AttemptRecord, Recorder
from app.core.telemetry.attributes import (
    attempt_attributes,
    is_final,
    metric_attributes,
    span_name,
)
from app.core.telemetry.pipeline import Pipeline, start_span

log = logging.getLogger("routedeck.telemetry")
_OPEN_TURNS = 1_000  # turns whose attempts are still being summed (bounded memory)


class TelemetryRecorder:
    """``record_attempt`` into ``inner`` (may be None: telemetry without a ledger), then a
    span ``chat {model}`` of kind CLIENT and the cost/savings/token metrics."""

    def __init__(self, inner: Recorder | None, settings: Settings, *, owns: bool = False,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.inner = inner
        self.settings = settings
        self._owns = owns
        self._on_notice = on_notice or (lambda text: log.warning("%s", text))
        who = Identity.current(settings.store.user, settings.store.host)
        self.pipeline = Pipeline(settings.telemetry,
                                 {"host.name": who.host, "routedeck.user": who.user},
                                 self._notice)
        self._turns: OrderedDict[str, float | None] = OrderedDict()
        self._lock = threading.Lock()
        self._instruments()

    @property
    def notice(self) -> str | None:
        """The one message about an unreachable collector, once there is one."""
        return self.pipeline.health.notice

    def _notice(self, text: str) -> None:
        self._on_notice(text)

    def _instruments(self) -> None:
        meter = self.pipeline.meter
        if meter is None:
            self._m = None
            return
        self._m = {
            "cost": meter.create_counter(
                "routedeck.cost", unit="USD", description="What the model calls cost"),
            "premium": meter.create_counter(
                "routedeck.premium_cost", unit="USD",
                description="What the same turns would have cost on the premium tier"),
            "saved": meter.create_up_down_counter(
                "routedeck.saved", unit="USD",
                description="Premium counterfactual minus actual cost, per finished turn"),
            "turn_cost": meter.create_histogram(
                "routedeck.turn.cost", unit="USD", description="Cost of one turn"),
            "tokens": meter.create_histogram(
                "gen_ai.client.token.usage", unit="{token}",
                description="Tokens used per call, by gen_ai.token.type"),
            "duration": meter.create_histogram(
                "gen_ai.client.operation.duration", unit="s",
                description="Duration of one call"),
        }

    # --- Recorder ----------------------------------------------------------------------------
    def record_attempt(self, rec: AttemptRecord) -> int:
        try:
            rid = self.inner.record_attempt(rec) if self.inner is not None else 0
        finally:
            # Even when the ledger could not write, the call happened: say so to the
            # collector too. A telemetry problem never reaches the engine.
            try:
                self._emit(rec)
            except Exception as exc:  # noqa: BLE001 - see above
                log.debug("telemetry: could not emit a span: %s", type(exc).__name__)
        return rid

    def _turn_cost(self, rec: AttemptRecord) -> float | None:
        """The turn's cost so far including ``rec`` (None once any price is unknown)."""
        with self._lock:
            so_far = self._turns.pop(rec.turn_id, 0.0)
            total = None if so_far is None or rec.cost_usd is None else so_far + rec.cost_usd
            if not is_final(rec):
                self._turns[rec.turn_id] = total
                while len(self._turns) > _OPEN_TURNS:
                    self._turns.popitem(last=False)
            return total

    def _emit(self, rec: AttemptRecord) -> None:
        turn_cost = self._turn_cost(rec)
        attrs = attempt_attributes(rec, self.settings, turn_cost)
        start_ns = int(rec.started_at * 1e9)
        end_ns = start_ns + int(max(rec.latency_s or 0.0, 0.0) * 1e9)
        span = start_span(self.pipeline, span_name(rec), start_ns, attrs, rec.turn_id)
        if "error.type" in attrs:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, str(attrs["error.type"])))
        span.end(end_time=end_ns)
        if self._m is not None:
            self._measure(rec, turn_cost)

    def _measure(self, rec: AttemptRecord, turn_cost: float | None) -> None:
        m = self._m
        assert m is not None
        labels = metric_attributes(rec)
        if rec.cost_usd is not None:
            m["cost"].add(rec.cost_usd, labels)
        base = {k: labels[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name",
                                       "gen_ai.request.model")}
        m["tokens"].record(rec.input_tokens, {**base, "gen_ai.token.type": "input"})
        m["tokens"].record(rec.output_tokens, {**base, "gen_ai.token.type": "output"})
        if rec.latency_s is not None:
            error = {"error.type": rec.error_kind} if rec.error_kind else {}
            m["duration"].record(rec.latency_s, {**base, **error})
        if is_final(rec) and turn_cost is not None and rec.premium_cost_usd is not None:
            turn = {"routedeck.tier": rec.tier, "gen_ai.request.model": rec.model}
            m["premium"].add(rec.premium_cost_usd, turn)
            m["saved"].add(rec.premium_cost_usd - turn_cost, turn)
            m["turn_cost"].record(turn_cost, turn)

    # --- lifecycle ---------------------------------------------------------------------------
    def shutdown_telemetry(self, flush_s: float = 1.0) -> str | None:
        """Deliver what is queued within ``flush_s`` (else drop it); the notice, if any."""
        self.pipeline.close(flush_s)
        return self.notice

    def close(self) -> None:
        self.shutdown_telemetry()
        if self._owns and self.inner is not None:
            close: Any = getattr(self.inner, "close", None)
            if close is not None:
                close()

    def __getattr__(self, name: str) -> Any:
        # The engine only records; other callers may treat the wrapper as the store.
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)
