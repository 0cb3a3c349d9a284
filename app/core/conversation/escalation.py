"""Escalate one answered turn to another tier, then judge the two answers (no UI here).

The console's compare view drives this through :class:`app.core.conversation.session.
ConsoleSession`: :func:`make_plan` decides which turn and which tier (or says why not, in
words for a toast), the session runs the forced-tier turn through the engine with the turn's
own history, and the verdict becomes a stored label, the answer kept in the conversation,
and optionally a sticky tier for the rest of the session.

A pair is stored cheaper tier first (``answer_request_id`` = the cheaper answer), which is
what :meth:`app.core.ledger.reader.Ledger.satisfaction` and the label export read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.calling.events import Answer
from app.core.config.settings import Settings
from app.core.conversation.turn import Conversation
from app.core.ledger.store import Store

VERDICT_KEYS = {
    "cheap_enough": "cheap was enough",
    "premium_better": "premium was better",
    "tie": "tie",
}


def verdict_words(verdict: str, lower: str = "cheap", higher: str = "premium") -> str:
    """A verdict in the names of the two tiers judged: with tiers local < cheap < premium a
    local answer re-run on cheap is judged "local was enough" or "cheap was better"."""
    if verdict == "cheap_enough":
        return f"{lower} was enough"
    if verdict == "premium_better":
        return f"{higher} was better"
    return VERDICT_KEYS[verdict]


class EscalationRefused(Exception):
    """Why nothing was sent (no answered turn, top tier already, offline, ...): a toast."""


@dataclass(frozen=True)
class Plan:
    """Re-run turn ``turn_index`` on ``tier`` with the history that turn had."""

    turn_index: int
    prompt: str
    history: tuple[dict[str, str], ...]
    given: Answer
    tier: str
    upward: bool  # the new tier is above the given answer's tier

    def tiers(self) -> tuple[str, str]:
        """(cheaper tier, pricier tier) of the two answers: the ones a verdict names."""
        pair = (self.given.tier, self.tier)
        return pair if self.upward else (pair[1], pair[0])


@dataclass(frozen=True)
class Pending:
    """A finished re-run awaiting a verdict."""

    plan: Plan
    compared: Answer
    pair_id: int | None  # None when the pair could not be stored

    def ordered_ids(self) -> tuple[int | None, int | None]:
        """(cheaper answer's request id, pricier answer's request id)."""
        given, other = self.plan.given.request_id, self.compared.request_id
        return (given, other) if self.plan.upward else (other, given)


@dataclass(frozen=True)
class Judged:
    verdict: str
    turn_index: int
    kept_compared: bool  # the new answer replaced the given one in the conversation
    kept: Answer
    stored: bool
    sticky_note: str = ""  # "the rest of the session stays on premium ..." or ""
    lower: str = "cheap"  # the two tiers judged, cheaper first
    higher: str = "premium"

    @property
    def label(self) -> str:
        return verdict_words(self.verdict, self.lower, self.higher)


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


def make_plan(settings: Settings, conversation: Conversation, turn_index: int | None,
              tier: str | None) -> Plan:
    if not settings.has_credentials():
        raise EscalationRefused(
            "offline: no provider credentials are configured, so nothing was sent. Set the API "
            "key variable named by api_key_env in the config, or point a tier at a keyless "
            "local server.")
    if turn_index is None:
        turn_index = conversation.last_answered()
        if turn_index is None:
            if len(conversation):
                # A cancelled or failed turn's partial text is no answer to judge against.
                raise EscalationRefused(
                    "no turn has a complete answer to compare yet (a cancelled or failed "
                    "one does not count): ask again, or regenerate the last answer")
            raise EscalationRefused("there is no answer to compare yet: ask something first")
    if not 0 <= turn_index < len(conversation) or not conversation[turn_index].answered:
        raise EscalationRefused(f"turn {turn_index + 1} has no answer to compare")
    turn = conversation[turn_index]
    given = turn.answer
    assert given is not None  # answered
    target = target_tier(settings, given.tier, turn_index + 1, tier)
    t = settings.tier(target)
    if not settings.provider_for(t).usable():
        env = settings.provider_for(t).api_key_env
        raise EscalationRefused(
            f"offline: tier '{target}' ({t.model}) has no API key, so nothing was sent. "
            f"Set {env} (export {env}=...) or point the tier at a keyless local server.")
    names = [x.name for x in settings.tiers]
    upward = given.tier not in names or names.index(target) > names.index(given.tier)
    return Plan(turn_index, turn.prompt, tuple(conversation.history(before=turn_index)), given,
                target, upward)


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


def judge_stored_pair(store: Store, pair: dict[str, Any], verdict: str) -> int:
    """Store a verdict on a stored pair (``routedeck review``); the better answer is kept.

    Stored pairs are cheaper answer first, so the same rule as in the console applies with
    the pricier answer as the re-run."""
    answer, compared = pair["answer_request_id"], pair["compared_request_id"]
    kept = compared if keeps_compared(verdict, upward=True) else answer
    return store.add_verdict(answer, compared, verdict, kept_request_id=kept,
                             session_id=pair.get("session_id"))
