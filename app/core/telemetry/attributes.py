"""What a span says about one call attempt: OpenTelemetry GenAI semantic conventions
(``gen_ai.*``, ``server.*``, ``error.type``) plus RouteDeck's own ``routedeck.*`` figures.

Pure functions of an :class:`~app.core.ledger.records.AttemptRecord`, so the mapping is
tested without the SDK. Prompt and answer text (and the routing reason, which quotes the
prompt's keywords) appear only with ``[telemetry] export_text = true``, capped at
``text_max_chars``. Nothing here can hold a credential: an AttemptRecord has none.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from app.core.config.settings import Settings
from app.core.ledger.records import AttemptRecord

OPERATION = "chat"
# Statuses that end a turn (the attempt whose counterfactual the ledger counts), unless the
# cascade rejected the answer and asked one tier up.
_FINAL_STATUSES = ("ok", "truncated", "cancelled")


def span_name(rec: AttemptRecord) -> str:
    return f"{OPERATION} {rec.model}"


def is_final(rec: AttemptRecord) -> bool:
    """Whether no further attempt of this turn follows (errors may be retried: not final)."""
    return rec.status in _FINAL_STATUSES and rec.extra.get("cascade") != "rejected"


def _server(settings: Settings, provider: str) -> dict[str, Any]:
    cfg = settings.providers.get(provider)
    if cfg is None:
        return {}
    try:
        parts = urlsplit(cfg.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {}
    return {"server.address": parts.hostname or "", "server.port": port}


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def attempt_attributes(rec: AttemptRecord, settings: Settings,
                       turn_cost: float | None = None) -> dict[str, Any]:
    """Span attributes for one attempt. ``turn_cost``: what the whole turn cost, given on
    its final attempt (None when a price is unknown), for the turn's saving."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": rec.provider,
        "gen_ai.system": rec.provider,  # the older name, still read by some back-ends
        "gen_ai.request.model": rec.model,
        "gen_ai.usage.input_tokens": rec.input_tokens,
        "gen_ai.usage.output_tokens": rec.output_tokens,
        "routedeck.tier": rec.tier,
        "routedeck.task_type": rec.task_type,
        "routedeck.routing.rule": rec.rule,
        "routedeck.attempt": rec.attempt,
        "routedeck.turn.id": rec.turn_id,
        "routedeck.status": rec.status,
        "routedeck.usage_source": rec.usage_source,
        "routedeck.cache_hit": rec.cache_hit,
        "routedeck.fallback": rec.fallback_from is not None,
        "routedeck.escalated": rec.escalated,
        "routedeck.forced": rec.forced,
        "routedeck.pinned": rec.pinned,
        "routedeck.cached_input_tokens": rec.cached_input_tokens,
        "routedeck.reasoning_tokens": rec.reasoning_tokens,
        **_server(settings, rec.provider),
    }
    if rec.status != "error" and rec.extra.get("response_model"):
        # Only what the server said answered: a server that names no model leaves it unknown
        # (the request's model would claim what nobody reported).
        attrs["gen_ai.response.model"] = rec.extra["response_model"]
    if rec.extra.get("finish_reason"):
        attrs["gen_ai.response.finish_reasons"] = [rec.extra["finish_reason"]]
    if rec.session_id is not None:
        attrs["routedeck.session.id"] = rec.session_id
        attrs["gen_ai.conversation.id"] = str(rec.session_id)
    optional = {
        "routedeck.routing.score": rec.score,
        "routedeck.fallback_from": rec.fallback_from,
        "routedeck.cost_usd": rec.cost_usd,
        "routedeck.premium_cost_usd": rec.premium_cost_usd,
        "routedeck.ttft_s": rec.ttft_s,
        "routedeck.decision_us": rec.decision_us,
        "routedeck.escalation_reason": rec.escalation_reason or None,
        "routedeck.cascade": rec.extra.get("cascade"),
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    attrs["routedeck.priced"] = rec.cost_usd is not None
    if rec.cost_usd is not None and rec.premium_cost_usd is not None:
        attrs["routedeck.saved_usd"] = rec.premium_cost_usd - rec.cost_usd
    final = is_final(rec)
    attrs["routedeck.turn.final"] = final
    if final and turn_cost is not None:
        attrs["routedeck.turn.cost_usd"] = turn_cost
        if rec.premium_cost_usd is not None:
            attrs["routedeck.turn.saved_usd"] = rec.premium_cost_usd - turn_cost
    if rec.status in ("error", "truncated") and rec.error_kind:
        attrs["error.type"] = rec.error_kind
    tel = settings.telemetry
    if tel.export_text:
        limit = tel.text_max_chars
        attrs["gen_ai.input.messages"] = json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": _cap(rec.prompt, limit)}]}],
            ensure_ascii=False)
        attrs["gen_ai.output.messages"] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text",
                                              "content": _cap(rec.answer, limit)}],
              "finish_reason": rec.extra.get("finish_reason") or rec.status}],
            ensure_ascii=False)
        if rec.reason:
            attrs["routedeck.routing.reason"] = _cap(rec.reason, limit)
    return attrs


def metric_attributes(rec: AttemptRecord) -> dict[str, Any]:
    """The few, low-cardinality attributes metrics are split by."""
    return {"gen_ai.operation.name": OPERATION, "gen_ai.provider.name": rec.provider,
            "gen_ai.request.model": rec.model, "routedeck.tier": rec.tier,
            "routedeck.status": rec.status}
