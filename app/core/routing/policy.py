"""Classification + policy + session state -> RouteDecision.

The policy is applied in a fixed order and the last rule that changed the tier is reported as
the reason, in words. Precedence, strongest first: budget block, force, pin, budget
downgrade, session stickiness, keywords, task policy (task-type minimum tier, demand
lifts, short routine requests, routine transforms at any length) or else the low-confidence
band, thresholds.

The task policy and the score tell one story: when the policy needs a higher tier than the
score reached, the decision's score is raised just past that tier's threshold, and a short
routine request kept on the cheapest tier is lowered just under the first one, in the order
of the classifier's own score (kept as ``model_score``). So "score >= threshold" holds for
every tier the policy picks, and anything that ranks prompts by score (audit, eval) sees
the evidence the router acted on, where raising them any higher cost ranking quality
(training report). Fitting a new threshold needs scores that do not depend on the current
one: ``policy_score(..., bands=True)`` puts prompts the policy sends to the top tier in
[TOP_BAND, 1] and prompts it keeps on the cheapest in [0, BOTTOM_BAND), which is what the
calibration sample and app.core.evaluation give `routedeck calibrate`.

The policy applies to open requests and numeric problems; quiz and few-shot layouts (answer
options, worked examples) are left to the learned score, which was fitted on thousands of
them. A "cheap was enough" verdict on
a similar prompt (the memory) also outranks the built-in task policy: it is the user's
own evidence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.config.settings import Settings, tier_level
from app.core.ledger.money import format_usd
from app.core.ledger.pricing import price_for
from app.core.routing import learned
from app.core.routing.classify import classify
from app.core.routing.demands import DEMAND_LABELS
from app.core.routing.features import REQUEST_LABELS
from app.core.routing.labels import base_label
from app.core.routing.tasks import TASK_INDEX
from app.core.routing.types import (
    Classification,
    RouteDecision,
    Signal,
    TierEstimate,
    digits_apart,
)

if TYPE_CHECKING:  # only annotations use it: a decision need not import the ledger's records
    from app.core.ledger.records import BudgetState

# Scores the policy sets, ordered by the classifier's own score: just past (or under) the
# threshold by _TIE_BREAK; for threshold fitting, in the top / bottom bands instead.
TOP_BAND = 0.9
BOTTOM_BAND = 0.1
_TIE_BREAK = 1e-3
_UNDER = 0.975
_TIER_WORDS = {1: "one tier up", 2: "two tiers up", 3: "three tiers up"}


@dataclass
class SessionState:
    """What the user and past turns decided for the rest of the session."""

    pinned_tier: str | None = None
    force_next: str | None = None  # tier to force for the next turn only
    sticky_tier: str | None = None
    sticky_reason: str = ""


_NO_STATE = SessionState()  # decide() only reads the state: one blank instance serves all


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
    input_tokens = 3 + fast_token_estimate(prompt)
    if history:
        input_tokens += sum(4 + fast_token_estimate(m.get("content") or "") for m in history)
    rows, made = _tier_prices(settings)
    # The estimates depend only on the token count once the prices are known, and a
    # TierEstimate is immutable: decisions of the same size share one tuple.
    est = made.get(input_tokens)
    if est is None:
        if len(made) > 4096:
            made.clear()
        est = made[input_tokens] = tuple([
            TierEstimate(name, model, input_tokens, out_toks,
                         price.cost(input_tokens, out_toks) if price else None, True)
            for name, model, price, out_toks in rows])
    return est


_PRICED: dict[int, tuple] = {}


def _tier_prices(settings: Settings) -> tuple[list[tuple], dict[int, tuple]]:
    """(tier, model, price, expected output tokens) per tier, looked up again only when a
    field they depend on changes: a price lookup (URL redaction, cache keys) costs more than
    the rest of the estimate, and every decision needs one per tier. With them, the
    estimates already made from those prices, by input token count."""
    key = [(t.name, t.model, t.input_per_mtok, t.output_per_mtok, t.cached_input_per_mtok,
            t.max_output_tokens, settings.provider_for(t).base_url) for t in settings.tiers]
    key.append(settings.router.expected_output_tokens)
    hit = _PRICED.get(id(settings))
    if hit is not None and hit[0] is settings and hit[1] == key:
        return hit[2], hit[3]
    if len(_PRICED) > 64:
        _PRICED.clear()
    out = key[-1]
    rows = [(t.name, t.model, price_for(t, settings.provider_for(t)),
             min(out, t.max_output_tokens or out)) for t in settings.tiers]
    _PRICED[id(settings)] = (settings, key, rows, {})
    return rows, _PRICED[id(settings)][3]


def _keyword_hit(words: Sequence[str], prompt: str, low: str | None = None) -> str | None:
    if not words:
        return None
    low = low if low is not None else prompt.lower()
    for w in words:
        wl = w.lower()
        # A substring test first: the word-boundary regex over a long prompt costs ~30 us per
        # keyword, and almost every prompt contains none of them.
        if wl and wl in low and re.search(rf"(?<!\w){re.escape(wl)}(?!\w)", low):
            return w
    return None


def evidence_for(c: Classification, up: bool) -> str:
    """A sentence from the training data about prompts like this one that supports the
    decision (``up``: it went above the cheapest tier), or '' when the data has none."""
    # Quizzes and few-shot prompts are left to the score (see _task_policy): a task-type
    # sentence would explain a rule that did not apply.
    if c.strategy != "learned" or c.form in ("choice", "fewshot"):
        return ""
    m = learned.model()
    table = (m.meta.get("evidence") if m is not None else None) or {}
    e = table.get(f"{c.task_type}:{c.domain}") if c.domain else None
    e = e or table.get(c.task_type)
    if not e or e.get("n", 0) < 30:
        return ""
    # premium_more: the share of those prompts premium did better on, minus the share cheap
    # did better on (so "65 points", not "65% more often").
    more = round(100 * e["premium_more"])
    if up and more >= 5:
        return f"like {e['name']}, where premium won {more} points more often than cheap"
    if not up and more < 5:
        return (f"like {e['name']}, where premium won only {more} points more often than cheap"
                if more > 0 else f"like {e['name']}, where premium won no more often than cheap")
    return ""


_tables: dict[tuple, tuple] = {}


def _policy_tables(r, names: list[str]) -> tuple[dict[str, int], dict[str, int], tuple[int, ...]]:
    """Task type -> minimum tier index, demand lifts and the routine types' positions in the
    task classifier's probabilities, of a RouterConfig for these tiers, rebuilt only when
    task_min_tier, demand_lift, routine_tasks or the tiers change (read every decision)."""
    key = (id(r), tuple(names))
    hit = _tables.get(key)
    if (hit is not None and hit[0] is r and hit[1] == r.task_min_tier
            and hit[2] == r.demand_lift and hit[3] == r.routine_tasks):
        return hit[4], hit[5], hit[6]
    if len(_tables) > 64:
        _tables.clear()
    floors = {t: tier_level(level, names) or 0 for t, level in r.task_levels().items()}
    lifts = r.lifts()
    routine = tuple(TASK_INDEX[t] for t in r.routine_tasks if t in TASK_INDEX)
    _tables[key] = (r, dict(r.task_min_tier), dict(r.demand_lift), list(r.routine_tasks),
                    floors, lifts, routine)
    return floors, lifts, routine


def guessed_type(c: Classification) -> bool:
    """The task type is the classifier's guess among several: its label ends in "?"
    (classify.task_label), as the panel shows it."""
    return c.task_label.endswith("?")


def _task_policy(c: Classification, settings: Settings, names: list[str], idx: int,
                 chars: int, near: bool = False) -> tuple[int, str, str]:
    """(tier index the task policy wants, rule id, reason); idx itself when it has no say.

    Up: the task type's minimum tier or a demand factor's lift. Down: a short routine request (a task type whose minimum
    is the cheapest tier, no demand factor, not a follow-up) stays on the cheapest tier, even
    when its score is ``near`` the threshold (the low-confidence band)."""
    if c.form in ("choice", "fewshot") or c.memory_shift < 0:
        return idx, "", ""
    r = settings.router
    floors, lifts, routine = _policy_tables(r, names)
    task = c.task_type
    # A numeric problem typed "proof/advanced maths" that neither asks for a proof nor uses
    # advanced vocabulary is a competition-style calculation (MATH, GSM8K): the learned
    # score, fitted on thousands of them, knows better than a blanket minimum.
    label = c.task_label or c.task_type
    request = ""  # what a routine reason calls the prompt, when not "<label> request"
    if c.form == "numeric" and task == "proof" and not {"proof", "advanced_math"} & set(c.demands):
        task = "calculation"
        # Say what the policy treated it as: "short proof/advanced maths request: the cheap
        # tier is enough" would contradict the proof minimum the panel shows.
        label = "numeric problem (no proof asked)"
        request = "numeric problem that asks for no proof"
    fired = [d for d in c.demands if lifts.get(d, 0) > 0]
    # A beginner's error message ("IndentationError", "'ledPin' was not declared in this
    # scope") or a famous gotcha has a well-known fix, whatever conditions the question
    # sets: debugging's minimum is for the subtle cases. (known_error is set for code
    # debug/review only.)
    if (c.known_error and r.known_errors_routine and set(fired) <= _SOFT and not c.follow_up
            and c.memory_shift <= 0):
        return 0, "known_error", (f"common error ({c.known_error}): the {names[0]} tier "
                                  "is enough")
    if not fired and not c.follow_up and c.memory_shift <= 0:
        # A personal, everyday request (a trip, a meal, a workout) that asks for nothing
        # more is routine whatever its type's minimum: a person sends "3 day itinerary for
        # lisbon" to the cheapest tier, though planning in general needs the top one. Code,
        # maths and puzzles keep their own rules: a recipe in a word problem is no easier.
        if c.everyday and r.everyday_routine and task not in _OWN_DIFFICULTY:
            return 0, "everyday", (f"everyday request ({c.everyday}): the {names[0]} tier "
                                   "is enough")
    floor = floors.get(task, 0)
    need = floor
    if c.domain:
        label = f"{label} ({c.domain})"
    rule, reason = "task_min", f"{label} needs at least the {names[need]} tier"
    if fired:
        step = max(lifts[d] for d in fired)
        # A guessed type's minimum ("logic puzzle?") is a weaker reason than a demand that
        # reaches the same tier on its own ("medicines taken together"): name the demand.
        base = idx if need > idx and guessed_type(c) else max(idx, need)
        lifted = min(len(names) - 1, base + step)
        if lifted > base and lifted >= need:
            # One demand, the first: two no longer fit the one-line status of an 80-column
            # screen ("subtle systems question and question with conditio…"); the signals
            # list every one.
            words = DEMAND_LABELS.get(fired[0], fired[0])
            need = lifted
            rule = "demand"
            reason = f"{words}: {_TIER_WORDS.get(step, f'{step} tiers up')} ({names[need]})"
    elif (floor == 0 and (idx > 0 or near) and 0 < chars and not c.follow_up
          and c.memory_shift <= 0):
        # Only a short request of a known type is routine: when the type is a guess (the
        # panel's "calculation?"), a short prompt may be a hard one of another type ("show 2PC
        # blocks if the coordinator crashes"), and the score decides.
        request = request or f"{label} request"
        known = not guessed_type(c)
        if chars <= r.routine_max_chars and known:
            return 0, "routine", f"short {request}: the {names[0]} tier is enough"
        # A routine type at any length: pasting a long text makes the prompt long, not hard.
        if ((known and task in r.routine_tasks)
                or (c.task_probs and sum(c.task_probs[i] for i in routine) > ROUTINE_SHARE)):
            return 0, "routine", f"routine {request}: the {names[0]} tier is enough"
    if need <= idx:
        return idx, "", ""
    return need, rule, reason


# Rules that say why a prompt belongs on the cheapest tier, shown in its signals even when
# the score had it there already; with "routine", every rule that keeps it there.
_CONTEXT_RULES = ("everyday", "known_error")
_DOWN_RULES = ("routine", *_CONTEXT_RULES)
_OWN_DIFFICULTY = frozenset(("code_write", "code_debug", "calculation", "proof", "logic"))
# Demands that do not make a known error a hard case.
_SOFT = frozenset(("conditions",))

# A request of a routine task type ([router] routine_tasks: pulling fields out of a text,
# labelling, summarising, translating, rewriting it, small talk), by the task classifier's
# known type or as more likely than not, stays on the cheapest tier at any length.
ROUTINE_SHARE = 0.5


def raise_to(score: float, bar: float, band: bool = False) -> float:
    """A score the policy lifts to a tier: just above that tier's threshold ``bar``, or
    with ``band`` into the top band (TOP_BAND + (1 - TOP_BAND) * score); order kept."""
    if band:
        return max(score, TOP_BAND + (1.0 - TOP_BAND) * score)
    return min(1.0, max(score, bar + _TIE_BREAK * min(score, bar)))


def lower_to(score: float, bar: float, band: bool = False) -> float:
    """A score the policy keeps under a tier's threshold ``bar``: just under it, or with
    ``band`` into the bottom band (BOTTOM_BAND * score); order kept."""
    if band:
        return min(score, BOTTOM_BAND * score)
    # Far enough under the bar that two decimals still show it ("0.19 < 0.20").
    return max(0.0, min(score, bar * _UNDER - _TIE_BREAK * (1.0 - min(max(score, bar), 1.0))))


def _near(score: float, th: list[float], idx: int, settings: Settings) -> bool:
    """Within the low-confidence margin under the next threshold."""
    margin = settings.router.low_confidence_margin
    # float-safe: calibrate writes t + margin
    return idx < len(th) and margin > 0 and th[idx] - score <= margin + 1e-9


def policy_score(c: Classification, settings: Settings, chars: int, bands: bool = False
                 ) -> float:
    """The score decide() reports for this classification of a prompt of ``chars``
    characters, with no session state or budget. ``bands``: the threshold-free form for
    fitting a threshold (see the module docstring)."""
    names = [t.name for t in settings.tiers]
    th = settings.router.thresholds
    idx = sum(1 for t in th if c.score >= t)
    need, _, _ = _task_policy(c, settings, names, idx, chars, _near(c.score, th, idx, settings))
    if need > idx:
        return raise_to(c.score, th[need - 1], bands and need == len(names) - 1)
    if need < idx:
        return lower_to(c.score, th[need], bands and need == 0)
    return c.score


def decide(
    c: Classification,
    settings: Settings,
    prompt: str,
    state: SessionState | None = None,
    budget: BudgetState | None = None,
    history: Sequence[dict[str, str]] | None = None,
) -> RouteDecision:
    start = time.perf_counter()
    state = state or _NO_STATE
    names = [t.name for t in settings.tiers]
    top = len(names) - 1
    th = settings.router.thresholds
    score = c.score
    idx = sum(map(score.__ge__, th))  # thresholds at or under the score
    if idx < top:
        threshold = th[idx]
        n = digits_apart(threshold, score)
        reason = f"score {score:.{n}f} < threshold {threshold:.{n}f}"
    else:
        threshold = th[-1] if th else None
        n = digits_apart(threshold, score)
        reason = (f"score {score:.{n}f} >= threshold {threshold:.{n}f}"
                  if threshold is not None else "top tier")
    rule = "threshold"
    forced = pinned = blocked = False
    c_idx = idx

    # The task policy sees the score's own tier; the low-confidence band only applies when
    # the policy has no say, so a policy decision always reports a score at its threshold.
    near = _near(score, th, idx, settings)
    need, policy_rule, policy_reason = _task_policy(c, settings, names, idx, len(prompt), near)
    margin = settings.router.low_confidence_margin
    if need > idx:
        idx = need
        threshold = th[idx - 1]
        score = raise_to(c.score, threshold)
        rule, reason = policy_rule, policy_reason
    elif need < idx or policy_rule in _DOWN_RULES:
        idx = need
        threshold = th[idx]
        score = lower_to(c.score, threshold)
        rule, reason = policy_rule, policy_reason
    elif near:
        idx += 1
        n = max(3, digits_apart(th[idx - 1], score))  # 0.1998 is not "0.200"
        rule, reason = "low_confidence", (
            f"score {score:.{n}f} is within {margin:g} of threshold {th[idx - 1]:g} "
            "(low confidence): one tier up"
        )
    elif rule == "threshold" and c.task_label:
        reason = f"{c.task_label}: {reason}"
    if c.memory_note and rule in ("threshold", "low_confidence"):
        reason = f"{c.memory_note}; {reason}"
    # A demand that lifted a prompt of a guessed type: what prompts of that type did says
    # nothing about it ("medicines taken together; like formal-logic questions").
    evidence = "" if rule == "demand" and guessed_type(c) else evidence_for(c, idx > 0)
    if evidence and rule in ("threshold", "task_min", "demand", *_DOWN_RULES):
        reason = f"{reason}; {evidence}"
    if c.follow_up:
        reason = f"follow-up to: {c.follow_up}; {reason}"
    score_idx = idx
    low = prompt.lower() if settings.router.escalate_keywords or settings.router.deescalate_keywords else ""
    down = _keyword_hit(settings.router.deescalate_keywords, prompt, low)
    if down and idx > 0:
        idx = 0
        rule, reason = "keyword", f"keyword '{down}' asks for the cheapest tier"
    up = _keyword_hit(settings.router.escalate_keywords, prompt, low)
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
    elif budget_note:
        # "downgrade" steers toward the cap, it does not pass it: a call that would go over
        # even on the tier chosen (the cheapest, or one pinned or forced) is blocked too.
        over = _budget_pressure(settings, budget, est[idx].cost_usd, fraction=1.0)
        if over:
            blocked = True
            rule, reason = "budget_block", (
                f"{over}: over the cap even on {settings.tiers[idx].name}, so the call is "
                "blocked (raise [budget] caps to continue)")

    tier = settings.tiers[idx]
    elapsed = (time.perf_counter() - start - est_elapsed) * 1e6
    return RouteDecision(
        tier=tier.name,
        tier_index=idx,
        model=tier.model,
        provider=tier.provider,
        score=score,
        threshold=threshold,
        task_type=c.task_type,
        confidence=threshold_confidence(c.score, th),
        rule=rule,
        reason=reason,
        signals=_signals(c, policy_rule if need != c_idx or policy_rule in _CONTEXT_RULES
                         else "", score),
        decision_us=c.decision_us + elapsed,
        estimates=est,
        blocked=blocked,
        forced=forced,
        pinned=pinned,
        strategy=c.strategy,
        model_score=c.score,
        task_label=c.task_label,
        demands=c.demands,
        follow_up=c.follow_up,
        memory_note=c.memory_note,
        evidence=evidence,
        score_tier=names[score_idx],
    )


def threshold_confidence(score: float, thresholds: Sequence[float]) -> float:
    """How clearly the score sits on its side of the boundary in force, 0..1: the distance
    to the nearest threshold over the room on that side (to 0, to 1, or to the next one).
    A score against 0.5 says little when the useful threshold is 0.2."""
    if not thresholds:
        return 1.0
    edges = [0.0, *thresholds, 1.0]
    best = 1.0
    for i, t in enumerate(thresholds, start=1):
        room = (t - edges[i - 1]) if score < t else (edges[i + 1] - t)
        if room > 0:
            best = min(best, abs(score - t) / room)
    return max(0.0, min(1.0, best))


def _is_request(label: str) -> bool:
    return base_label(label) in REQUEST_LABELS or label.startswith("mentions '")


def _signals(c: Classification, policy_rule: str, score: float) -> tuple[Signal, ...]:
    """The panel's few lines: follow-up and memory first, then the task and demands (what a
    person would name), then the classifier's largest contributions. A policy raise shows
    as its size in score; when the policy decided, only contributions that say what the
    prompt asks for and point the same way are listed ("-0.02 short prompt" or "+0.03
    fractions" under "code debug/review needs the top tier" would explain nothing)."""
    raise_by = score - c.score
    head: list[Signal] = []
    if c.task_label:
        head.append(Signal(f"task: {c.task_label}",
                           raise_by if policy_rule in ("task_min", "routine") else 0.0))
    if policy_rule == "everyday":
        head.append(Signal(f"everyday: {c.everyday}", raise_by))
    elif policy_rule == "known_error":
        head.append(Signal(f"common error: {c.known_error}", raise_by))
    for d in c.demands[:2]:
        label = f"{c.domain} domain" if d == "expert_domain" and c.domain else DEMAND_LABELS.get(d, d)
        head.append(Signal(label, raise_by if policy_rule == "demand" else 0.0))
    names = {h.label for h in head}
    rest = [s for s in c.signals if s.label not in names]
    follow = [s for s in rest if s.label.startswith(("follow-up", "you judged"))]
    others = [s for s in rest if s not in follow] if follow else rest
    if policy_rule in ("task_min", "demand"):
        others = [s for s in others if s.weight > 0 and _is_request(s.label)]
    elif policy_rule in _DOWN_RULES:
        others = [s for s in others if s.weight < 0 and _is_request(s.label)]
    return tuple([*follow, *head, *others][:5])


def _budget_pressure(settings: Settings, budget: BudgetState | None, next_cost: float | None,
                     fraction: float | None = None) -> str:
    """A description of the cap about to be hit (at ``fraction`` of it, by default
    [budget] act_at_fraction), or '' if spending is comfortably under."""
    if budget is None:
        return ""
    cfg = settings.budget
    share = cfg.act_at_fraction if fraction is None else fraction
    extra = next_cost or 0.0
    for label, spent, cap in (
        ("session budget", budget.session_spent, cfg.session_usd),
        ("daily budget", budget.day_spent, cfg.daily_usd),
    ):
        if cap and spent + extra >= cap * share:
            return (
                f"{label} {format_usd(spent)} + next {format_usd(extra)} reaches "
                f"{share:.0%} of {format_usd(cap)}"
            )
    return ""


def route(
    prompt: str,
    settings: Settings,
    history: Sequence[dict[str, str]] | None = None,
    state: SessionState | None = None,
    budget: BudgetState | None = None,
    memory=None,  # app.core.routing.memory.Memory | None: the user's judged prompts
) -> RouteDecision:
    """Classify and route one prompt. Pure and local: no network, well under a millisecond.
    Every face (console, ``route``, ``audit``, ``eval``) calls this, so the same prompt,
    history and memory give the same decision everywhere."""
    r = settings.router
    if memory is not None:
        memory.min_similarity = r.memory_min_similarity
    c = classify(prompt, history, strategy=r.strategy, examples=r.task_examples or None,
                 memory=memory, follow_ups=r.follow_ups)
    return decide(c, settings, prompt, state, budget, history)
