"""OpenTelemetry export of every routed call (GenAI semantic conventions over OTLP/HTTP).

The one entry point is :func:`instrument`: the places that build an engine hand it their
recorder (the ledger store) and get back what to give the engine instead. With no
``[telemetry] otlp_endpoint`` that is the same recorder, and nothing of the OpenTelemetry
SDK is imported; with one, it is a :class:`~app.core.telemetry.recorder.TelemetryRecorder`
that records into the store first and then emits the attempt's span and metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.config.settings import Settings
    from app.core.ledger.records import Recorder


def instrument(recorder: Recorder | None, settings: Settings, *, owns: bool = False,
               on_notice: Callable[[str], None] | None = None) -> Any:
    """``recorder``, wrapped to export telemetry when ``[telemetry]`` asks for it.

    ``owns``: closing the wrapper also closes ``recorder`` (callers that close the store
    themselves pass False). ``on_notice`` receives the one message said when the collector
    cannot be reached (default: a warning on the ``routedeck.telemetry`` logger).
    """
    if not settings.telemetry.enabled:
        return recorder
    from app.core.telemetry.recorder import TelemetryRecorder

    return TelemetryRecorder(recorder, settings, owns=owns, on_notice=on_notice)


def shutdown(recorder: Any, flush_s: float = 1.0) -> str | None:
    """Flush and stop the telemetry of a recorder :func:`instrument` returned (a no-op for
    a plain store); returns the collector notice, if one was given."""
    from_telemetry = getattr(recorder, "shutdown_telemetry", None)
    if from_telemetry is None:
        return None
    return from_telemetry(flush_s)
