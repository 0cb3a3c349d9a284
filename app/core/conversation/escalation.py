"""Escalate one answered turn to another tier, then judge the two answers (no UI here).

The console's compare view drives this through :class:`app.core.conversation.session.ConsoleSession`:
``plan`` decides which turn and which tier (or says why not, in words for a toast), the
session runs the forced-tier turn through the engine with the turn's own history, and
``judge`` turns the user's verdict into a stored label, the answer kept in the conversation,
and optionally a sticky premium tier for the rest of the session.

A pair is stored cheaper tier first (``answer_request_id`` = the cheaper answer), which is
what :meth:`app.core.ledger.reader.Ledger.satisfaction` and :mod:`app.core.evaluation.labels` read. The
compare view normally escalates upwards, so that is the answer already given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.calling.events import TurnFinished, Usage
from app.core.config.settings import Settings
from app.core.conversation.compare import VERDICT_KEYS, final_request_id


class EscalationRefused(Exception):
    """Why nothing was sent (no answered turn, top tier already, offline, ...): a toast."""


@dataclass(frozen=True)
class Answered:
    """One answered turn of the conversation: the prompt and the answer kept for it."""

    prompt: str
    result: TurnFinished  # tier, model, usage, cost, latency and request id of the kept answer
    message_id: int | None = None  # the stored assistant message (None without a store)


@dataclass(frozen=True)
class Plan:
    """Re-run turn ``turn_index`` (0-based) on ``tier`` with the history that turn had."""

    turn_index: int
    prompt: str
    history: tuple[dict[str, str], ...]
    given: TurnFinished
    tier: str
    upward: bool  # the new tier is above the given answer's tier


@dataclass(frozen=True)
class Pending:
    """A finished escalation awaiting a verdict."""

    plan: Plan
    compared: TurnFinished
    pair_id: int | None  # None when the pair could not be stored (no ledger)


@dataclass(frozen=True)
class Judged:
    verdict: str
    turn_index: int
    kept_compared: bool  # the new answer replaced the given one in the conversation
    kept: TurnFinished
    stored: bool
    sticky_note: str = ""  # "the rest of the session stays on premium ..." or ""

    @property
    def label(self) -> str:
        return VERDICT_KEYS[self.verdict]


def target_tier(settings: Settings, given_tier: str, turn_no: int, tier: str | None) -> str:
    """The tier to re-run on: ``tier`` if chosen, else the next one up (EscalationRefused)."""
    names = [t.name for t in settings.tiers]
    if tier is not None:
        if tier not in names:
            raise EscalationRefused(f"unknown tier '{tier}' (tiers: {', '.join(names)})")
        if tier == given_tier:
            raise EscalationRefused(f"turn {turn_no} was already answered on {tier}; "
                                    "pick another tier to compare with")
        return tier
    if given_tier not in names:
        raise EscalationRefused(f"turn {turn_no} was answered on tier '{given_tier}', which is "
                                "not configured any more; pick a tier from the palette")
    idx = names.index(given_tier)
    if idx == len(names) - 1:
        lower = ", ".join(names[:-1]) or "none"
        raise EscalationRefused(
            f"turn {turn_no} was already answered on the top tier ({given_tier}). To compare it "
            f"with a cheaper one, use the palette (ctrl+p): 'Compare with tier …' ({lower}).")
    return names[idx + 1]


def make_plan(settings: Settings, turns: list[Answered], history: list[dict[str, str]],
              turn_index: int | None, tier: str | None) -> Plan:
    if not settings.has_credentials():
        raise EscalationRefused(
            "offline: no provider credentials are configured, so nothing was sent. Set the API "
            "key variable named by api_key_env in the config, or point a tier at a keyless "
            "local server.")
    if not turns:
        raise EscalationRefused("there is no answer to compare yet: ask something first")
    if turn_index is None:
        turn_index = len(turns) - 1
    if not 0 <= turn_index < len(turns):
        raise EscalationRefused(f"there is no turn {turn_index + 1} (answered turns: {len(turns)})")
    turn = turns[turn_index]
    given = turn.result
    target = target_tier(settings, given.tier, turn_index + 1, tier)
    t = settings.tier(target)
    if not settings.provider_for(t).usable():
        env = settings.provider_for(t).api_key_env
        raise EscalationRefused(
            f"offline: tier '{target}' ({t.model}) has no API key, so nothing was sent. "
            f"Set {env} (export {env}=...) or point the tier at a keyless local server.")
    names = [x.name for x in settings.tiers]
    upward = given.tier not in names or names.index(target) > names.index(given.tier)
    return Plan(turn_index, turn.prompt, tuple(history[: 2 * turn_index]), given, target, upward)


def ordered_ids(pending: Pending) -> tuple[int | None, int | None]:
    """(cheaper answer's request id, pricier answer's request id)."""
    given, other = final_request_id(pending.plan.given), final_request_id(pending.compared)
    return (given, other) if pending.plan.upward else (other, given)


def store_pair(store: Any, session_id: int | None, plan: Plan, compared: TurnFinished) -> int | None:
    if store is None:
        return None
    cheap, pricey = ordered_ids(Pending(plan, compared, None))
    if cheap is None or pricey is None:
        return None
    return store.add_compare_pair(plan.prompt, cheap, pricey, session_id=session_id,
                                  source="console")


def keeps_compared(verdict: str, upward: bool) -> bool:
    """The better answer stays; when both are good enough the one already given stays."""
    if verdict not in VERDICT_KEYS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICT_KEYS)}, not {verdict!r}")
    return verdict == "premium_better" and upward


def sticky_for(settings: Settings, pending: Pending, verdict: str, current: str | None
               ) -> tuple[str, str] | None:
    """(tier, reason) the session should stay on after this verdict, or None."""
    if verdict != "premium_better" or not settings.router.sticky_after_premium_verdict:
        return None
    names = [t.name for t in settings.tiers]
    tiers = [t for t in (pending.plan.given.tier, pending.compared.tier) if t in names]
    if not tiers:
        return None
    higher = max(tiers, key=names.index)
    if current in names and names.index(current) >= names.index(higher):
        return None
    return higher, f"you judged {higher} better on turn {pending.plan.turn_index + 1}"


def finished_from_request(row: dict[str, Any] | None, text: str) -> TurnFinished:
    """A stored answer (resumed session) as the TurnFinished the compare view shows."""
    if row is None:
        return TurnFinished("ok", text, "?", "?")
    usage = Usage(int(row.get("input_tokens") or 0), int(row.get("output_tokens") or 0),
                  source="provider" if row.get("usage_source") == "provider" else "estimated")
    return TurnFinished("ok", text, row.get("tier") or "?", row.get("model") or "?", usage=usage,
                        cost_usd=row.get("cost_usd"), premium_cost_usd=row.get("premium_cost_usd"),
                        latency_s=float(row.get("latency_s") or 0.0), cached=bool(row.get("cache_hit")),
                        request_ids=(int(row["id"]),))


def stored_turns(store: Any, session_id: int) -> list[Answered]:
    """The answered turns of a stored session, aligned with ``Store.messages`` pairs."""
    rows = [r for r in store.message_rows(session_id) if r.get("content") is not None]
    out: list[Answered] = []
    for i in range(0, len(rows) - 1, 2):
        user, answer = rows[i], rows[i + 1]
        rid = answer.get("request_id")
        request = store.request(int(rid)) if rid is not None else None
        out.append(Answered(user["content"], finished_from_request(request, answer["content"]),
                            int(answer["id"])))
    return out
