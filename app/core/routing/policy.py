"""Classification + policy + session state -> RouteDecision.

The policy is applied in a fixed order and the last rule that changed the tier is reported as
the reason, in words. Precedence, strongest first: budget block, force, pin, budget
downgrade, session stickiness, keywords, task-type minimum, low-confidence band, thresholds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.config.settings import Settings
from app.core.ledger.money import format_usd
from app.core.ledger.pricing import price_for
from app.core.ledger.records import BudgetState
from app.core.routing.classify import classify
from app.core.routing.types import Classification, RouteDecision, TierEstimate


@dataclass
class SessionState:
    """What the user and past turns decided for the rest of the session."""

    pinned_tier: str | None = None
    force_next: str | None = None  # tier to force for the next turn only
    sticky_tier: str | None = None
    sticky_reason: str = ""


def fast_token_estimate(text: str) -> int:
    """A cheap token estimate for the routing hot path (about 4 characters per token)."""
    return max(1, (len(text) + 3) // 4)


def estimates(
    settings: Settings, prompt: str, history: Sequence[dict[str, str]] | None = None
) -> tuple[TierEstimate, ...]:
    """Estimated cost of this prompt on every tier.

    Input tokens come from the fast character-based estimate, not tiktoken: the figure only
    steers routing and budgets (the output length is a guess anyway), and loading an encoding
    would cost more than the whole routing budget. Billed usage is counted exactly later.
    """
    input_tokens = 3 + fast_token_estimate(prompt) + sum(
        4 + fast_token_estimate(m.get("content") or "") for m in history or ()
    )
    output_tokens = settings.router.expected_output_tokens
    out = []
    for tier in settings.tiers:
        price = price_for(tier, settings.provider_for(tier))
        out_toks = min(output_tokens, tier.max_output_tokens or output_tokens)
        cost = price.cost(input_tokens, out_toks) if price else None
        out.append(TierEstimate(tier.name, tier.model, input_tokens, out_toks, cost, True))
    return tuple(out)


def _keyword_hit(words: Sequence[str], prompt: str) -> str | None:
    low = prompt.lower()
    for w in words:
        wl = w.lower()
        # A substring test first: the word-boundary regex over a long prompt costs ~30 us per
        # keyword, and almost every prompt contains none of them.
        if wl and wl in low and re.search(rf"(?<!\w){re.escape(wl)}(?!\w)", low):
            return w
    return None


def decide(
    c: Classification,
    settings: Settings,
    prompt: str,
    state: SessionState | None = None,
    budget: BudgetState | None = None,
    history: Sequence[dict[str, str]] | None = None,
) -> RouteDecision:
    start = time.perf_counter()
    state = state or SessionState()
    names = [t.name for t in settings.tiers]
    top = len(names) - 1
    th = settings.router.thresholds
    idx = sum(1 for t in th if c.score >= t)
    if idx < top:
        threshold = th[idx]
        reason = f"score {c.score:.2f} < threshold {threshold:.2f}"
    else:
        threshold = th[-1] if th else None
        reason = f"score {c.score:.2f} >= threshold {threshold:.2f}" if threshold is not None else "top tier"
    rule = "threshold"
    forced = pinned = blocked = False

    margin = settings.router.low_confidence_margin
    if idx < top and margin > 0 and th[idx] - c.score <= margin + 1e-9:  # float-safe: calibrate writes t + margin
        idx += 1
        rule, reason = "low_confidence", (
            f"score {c.score:.3f} is within {margin:g} of threshold {th[idx - 1]:g} "
            "(low confidence): one tier up"
        )
    min_tier = settings.router.task_min_tier.get(c.task_type)
    if min_tier and names.index(min_tier) > idx:
        idx = names.index(min_tier)
        rule, reason = "task_min", f"task type '{c.task_type}' needs at least the {min_tier} tier"
    down = _keyword_hit(settings.router.deescalate_keywords, prompt)
    if down and idx > 0:
        idx = 0
        rule, reason = "keyword", f"keyword '{down}' asks for the cheapest tier"
    up = _keyword_hit(settings.router.escalate_keywords, prompt)
    if up and idx < top:
        idx = top
        rule, reason = "keyword", f"keyword '{up}' escalates to the top tier"
    if state.sticky_tier in names and names.index(state.sticky_tier) > idx:
        idx = names.index(state.sticky_tier)
        rule, reason = "sticky", state.sticky_reason or f"session stays on {state.sticky_tier}"

    # Price lookups for the estimate are not part of the routing decision's latency (the
    # first one may load the genai-prices snapshot), so they are timed out of decision_us.
    est_start = time.perf_counter()
    est = estimates(settings, prompt, history)
    est_elapsed = time.perf_counter() - est_start
    budget_note = _budget_pressure(settings, budget, est[idx].cost_usd)
    if budget_note and settings.budget.action == "downgrade" and idx > 0:
        idx = 0
        rule, reason = "budget_downgrade", f"{budget_note}: staying on the cheapest tier"
    if state.pinned_tier in names:
        idx = names.index(state.pinned_tier)
        pinned = True
        rule, reason = "pinned", f"tier pinned to {state.pinned_tier} for this session"
    if state.force_next in names:
        idx = names.index(state.force_next)
        forced = True
        rule, reason = "forced", f"{state.force_next} forced for this prompt"
    if budget_note and settings.budget.action == "block":
        blocked = True
        rule, reason = "budget_block", f"{budget_note}: call blocked (raise [budget] caps to continue)"

    tier = settings.tiers[idx]
    elapsed = (time.perf_counter() - start - est_elapsed) * 1e6
    return RouteDecision(
        tier=tier.name,
        tier_index=idx,
        model=tier.model,
        provider=tier.provider,
        score=c.score,
        threshold=threshold,
        task_type=c.task_type,
        confidence=c.confidence,
        rule=rule,
        reason=reason,
        signals=c.signals,
        decision_us=c.decision_us + elapsed,
        estimates=est,
        blocked=blocked,
        forced=forced,
        pinned=pinned,
        strategy=c.strategy,
    )


def _budget_pressure(settings: Settings, budget: BudgetState | None, next_cost: float | None) -> str:
    """A description of the cap about to be hit, or '' if spending is comfortably under."""
    if budget is None:
        return ""
    cfg = settings.budget
    extra = next_cost or 0.0
    for label, spent, cap in (
        ("session budget", budget.session_spent, cfg.session_usd),
        ("daily budget", budget.day_spent, cfg.daily_usd),
    ):
        if cap and spent + extra >= cap * cfg.act_at_fraction:
            return (
                f"{label} {format_usd(spent)} + next {format_usd(extra)} reaches "
                f"{cfg.act_at_fraction:.0%} of {format_usd(cap)}"
            )
    return ""


def route(
    prompt: str,
    settings: Settings,
    history: Sequence[dict[str, str]] | None = None,
    state: SessionState | None = None,
    budget: BudgetState | None = None,
) -> RouteDecision:
    """Classify and route one prompt. Pure and local: no network, well under a millisecond."""
    c = classify(prompt, history, strategy=settings.router.strategy)
    return decide(c, settings, prompt, state, budget, history)
