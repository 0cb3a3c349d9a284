"""Stored sessions as Turn records: what ``--session N`` and Ctrl+R bring back."""

from __future__ import annotations

from typing import Any

from app.core.calling.events import Answer, Continues
from app.core.conversation.turn import Turn
from app.core.ledger.records import Usage
from app.core.ledger.store import Store

# How the escalation_reason of a compare re-run's ledger rows begins (session.escalate).
COMPARE_REASON = "compare:"


def continuing(store: Store, turn_id: str, from_tier: str, reason: str, *,
               escalates: bool = True) -> Continues | None:
    """How a re-run joins an answered turn in the ledger, its attempts numbered after the
    ones stored (a compare re-run, a regenerated or edited turn); None with no turn to join.
    Reads the store: call it from a worker thread."""
    if not turn_id:
        return None
    return Continues(turn_id, store.last_attempt(turn_id), from_tier, reason, escalates)


def answer_from_request(row: dict[str, Any] | None, text: str) -> Answer:
    """A stored answer (its request row, when there is one) as an :class:`Answer`."""
    if row is None:
        return Answer(text, "?", "?")
    usage = Usage(int(row.get("input_tokens") or 0), int(row.get("output_tokens") or 0),
                  int(row.get("cached_input_tokens") or 0), int(row.get("reasoning_tokens") or 0),
                  source="provider" if row.get("usage_source") == "provider" else "estimated")
    extra = row.get("extra") or {}
    return Answer(text, row.get("tier") or "?", row.get("model") or "?", usage=usage,
                  turn_id=row.get("turn_id") or "",
                  cost_usd=row.get("cost_usd"), premium_cost_usd=row.get("premium_cost_usd"),
                  latency_s=float(row.get("latency_s") or 0.0), ttft_s=row.get("ttft_s"),
                  cached=bool(row.get("cache_hit")), fallback_from=row.get("fallback_from"),
                  finish_reason=extra.get("finish_reason") if isinstance(extra, dict) else None,
                  request_ids=(int(row["id"]),),
                  # The session stores the kept answer's message, so a compare re-run's row
                  # behind it means the verdict kept it (session.escalate names them so).
                  kept_after_compare=bool(row.get("escalated"))
                  and str(row.get("escalation_reason") or "").startswith(COMPARE_REASON))


def stored_turns(store: Store, session_id: int) -> list[Turn]:
    """The turns of a stored session, oldest first: each user message with the assistant
    message after it (an answered turn), or with none (a prompt routed offline, not sent)."""
    rows = [r for r in store.message_rows(session_id)
            if r.get("content") is not None and r.get("role") != "system"]
    out: list[Turn] = []
    i = 0
    while i < len(rows):
        user = rows[i]
        answer = rows[i + 1] if i + 1 < len(rows) else None
        if user.get("role") != "user":
            i += 1  # an assistant message whose prompt went (a deleted message): skipped
            continue
        if answer is None or answer.get("role") != "assistant":
            out.append(Turn(user["content"], status="offline", user_message_id=int(user["id"])))
            i += 1
            continue
        i += 2
        rid = answer.get("request_id")
        request = store.request(int(rid)) if rid is not None else None
        status = "truncated" if request is not None and request.get("status") == "truncated" \
            else "ok"
        out.append(Turn(user["content"], status=status,
                        answer=answer_from_request(request, answer["content"]),
                        message_id=int(answer["id"]), user_message_id=int(user["id"])))
    return out


def stored_system_prompt(store: Store, session_id: int) -> str | None:
    """The session's own system prompt (the last one set in it), if any."""
    rows = [r for r in store.message_rows(session_id) if r.get("role") == "system"]
    return rows[-1]["content"] if rows else None
