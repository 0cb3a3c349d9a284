"""Property tests: the router never raises and always picks a configured tier; costs are
never negative and grow with usage."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.config.settings import Settings
from app.core.ledger.pricing import Price
from app.core.ledger.records import BudgetState
from app.core.routing.classify import classify
from app.core.routing.policy import SessionState, route

pytestmark = pytest.mark.reliability

SETTINGS = {
    strategy: Settings(
        providers={"openai": {}, "local": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": ""}},
        tiers=[
            {"name": "local", "provider": "local", "model": "llama3.1:8b"},
            {"name": "cheap", "provider": "openai", "model": "gpt-4o-mini"},
            {"name": "premium", "provider": "openai", "model": "gpt-4o"},
        ],
        router={"thresholds": [0.3, 0.6], "strategy": strategy,
                "task_min_tier": {"code": "cheap"}, "escalate_keywords": ["prove"]},
        budget={"session_usd": 1.0},
    )
    for strategy in ("learned", "rules")
}

any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=3000)
weird_text = st.one_of(
    any_text,
    st.text(alphabet="\x00\x1b[]0123456789;m\u202e\u200f\u05d0\u0627\U0001f600 \n\t", max_size=500),
)


@pytest.mark.parametrize("strategy", ["learned", "rules"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=weird_text, spent=st.floats(0, 5), pinned=st.sampled_from([None, "local", "premium", "gone"]))
def test_router_never_raises_and_returns_a_valid_tier(strategy, prompt, spent, pinned):
    s = SETTINGS[strategy]
    d = route(prompt, s, state=SessionState(pinned_tier=pinned), budget=BudgetState(spent, spent))
    assert d.tier in {"local", "cheap", "premium"}
    assert s.tiers[d.tier_index].name == d.tier
    assert 0.0 <= d.score <= 1.0
    assert d.reason
    assert all(e.cost_usd is None or e.cost_usd >= 0 for e in d.estimates)


@settings(max_examples=150, deadline=None)
@given(prompt=weird_text, history=st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": any_text}),
    max_size=4))
def test_classifier_never_raises(prompt, history):
    c = classify(prompt, history)
    assert 0.0 <= c.score <= 1.0 and 0.0 <= c.confidence <= 1.0
    assert c.task_type
    assert all(isinstance(s.label, str) and s.label for s in c.signals)


prices = st.builds(Price, st.floats(0, 100), st.floats(0, 100), st.floats(0, 100), st.just("t"))
counts = st.integers(-10, 2_000_000)


@settings(max_examples=300, deadline=None)
@given(p=prices, i=counts, o=counts, c=counts, more=st.integers(0, 10_000))
def test_cost_is_never_negative_and_monotone(p, i, o, c, more):
    base = p.cost(i, o, c)
    assert base >= 0
    assert p.cost(i, o + more, c) >= base
    if p.input_per_mtok >= p.cached_input_per_mtok:
        assert p.cost(i + more, o, c) >= base - 1e-12


def test_huge_prompt_routes_quickly():
    import time

    prompt = ("Explain the following log and find the bug. " * 5000)[:200_000]
    start = time.perf_counter()
    d = route(prompt, SETTINGS["learned"])
    elapsed = time.perf_counter() - start
    assert d.tier in {"local", "cheap", "premium"}
    assert d.estimates[0].input_tokens > 40_000
    assert elapsed < 2.0


# --- ledger totals over random records ---------------------------------------------------
money = st.one_of(st.none(), st.floats(0, 5, allow_nan=False, allow_infinity=False))
attempt_st = st.fixed_dictionaries({
    "tier": st.sampled_from(["local", "cheap", "premium"]),
    "status": st.sampled_from(["ok", "error", "cancelled", "truncated"]),
    "cost": money, "premium": money, "cache_hit": st.booleans(),
    "fallback": st.booleans(), "tokens": st.integers(0, 100_000),
})
turns_st = st.lists(st.tuples(st.sampled_from([None, 1, 2]),
                              st.lists(attempt_st, min_size=1, max_size=3)),
                    min_size=0, max_size=25)


@settings(max_examples=60, deadline=None)
@given(turns=turns_st)
def test_ledger_totals_match_the_records(turns):
    import math
    import tempfile
    from pathlib import Path

    from app.core.ledger.reader import Ledger
    from app.core.ledger.records import AttemptRecord
    from app.core.ledger.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore.open(Path(tmp) / "ledger.db")
        try:
            recs = []
            for t, (session, attempts) in enumerate(turns):
                for a, at in enumerate(attempts, start=1):
                    recs.append(AttemptRecord(
                        turn_id=f"t{t}", attempt=a, session_id=session, tier=at["tier"],
                        model=f"{at['tier']}-model", provider="p", status=at["status"],
                        started_at=1_700_000_000.0 + t, input_tokens=at["tokens"],
                        output_tokens=at["tokens"] // 2, cost_usd=at["cost"],
                        premium_cost_usd=at["premium"], cache_hit=at["cache_hit"],
                        fallback_from="cheap" if at["fallback"] else None))
            if recs:
                store.record_attempts(recs)
            tot = Ledger(store).totals()
        finally:
            store.close()

    # The store keeps exactly what it is given (costs are computed once, by the engine).
    costs = [r.cost_usd for r in recs]
    assert tot.calls == len(recs)
    assert tot.spent >= 0 and math.isclose(tot.spent, math.fsum(c for c in costs if c is not None),
                                           abs_tol=1e-9)
    assert tot.unpriced == sum(c is None for c in costs)  # unknown is never $0
    assert tot.premium >= 0
    assert tot.errors == sum(r.status == "error" for r in recs)
    assert sum(b.calls for b in tot.by_tier.values()) == len(recs)
    assert all(b.spent >= 0 for b in tot.by_tier.values())
    # Savings: counterfactual (last attempt of each turn) minus actual (all attempts), over
    # turns where every attempt and the counterfactual are priced.
    cf_sum = actual_sum = 0.0
    priced = 0
    for t in range(len(turns)):
        rows = [r for r in recs if r.turn_id == f"t{t}"]
        cf = rows[-1].premium_cost_usd
        if cf is not None and all(r.cost_usd is not None for r in rows):
            priced += 1
            cf_sum += cf
            actual_sum += math.fsum(r.cost_usd for r in rows)
    assert tot.priced_turns == priced
    if priced:
        assert tot.savings is not None
        assert math.isclose(tot.savings, cf_sum - actual_sum, abs_tol=1e-9)
    else:
        assert tot.savings is None


# --- the router with history and odd but valid configs ---------------------------------------
@settings(max_examples=60, deadline=None)
@given(prompt=weird_text,
       history=st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                               "content": weird_text}), max_size=5),
       n_tiers=st.integers(2, 5), data=st.data(),
       strategy=st.sampled_from(["learned", "rules"]),
       action=st.sampled_from(["downgrade", "block"]))
def test_router_with_history_and_random_configs(prompt, history, n_tiers, data, strategy,
                                                action):
    thresholds = sorted(data.draw(st.lists(st.floats(0, 1), min_size=n_tiers - 1,
                                           max_size=n_tiers - 1)))
    names = [f"t{i}" for i in range(n_tiers)]
    kws = data.draw(st.lists(st.text(min_size=1, max_size=8), max_size=3))
    s = Settings(
        providers={"p": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": ""}},
        tiers=[{"name": n, "provider": "p", "model": f"m{i}",
                "input_per_mtok": data.draw(st.one_of(st.none(), st.floats(0, 50))),
                "output_per_mtok": data.draw(st.floats(0, 50))} for i, n in enumerate(names)],
        router={"thresholds": thresholds, "strategy": strategy,
                "escalate_keywords": kws, "deescalate_keywords": kws[:1],
                "task_min_tier": {"code": data.draw(st.sampled_from(names))}},
        budget={"session_usd": 0.01, "action": action},
    )
    state = SessionState(pinned_tier=data.draw(st.sampled_from([None, *names, "gone"])),
                         sticky_tier=data.draw(st.sampled_from([None, *names, "gone"])))
    spent = data.draw(st.floats(0, 1))
    d = route(prompt, s, history, state, BudgetState(spent, spent))
    assert d.tier in names and s.tiers[d.tier_index].name == d.tier
    assert 0.0 <= d.score <= 1.0 and d.reason
    assert all(e.cost_usd is None or e.cost_usd >= 0 for e in d.estimates)


# --- terminal-safe text -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_inert_text_has_no_control_characters_and_keeps_the_rest(text):
    from app.core.textsafe import inert

    out = inert(text)
    assert not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in out)
    printable = [c for c in text if not ((ord(c) < 0x20 and c not in "\n\t")
                                         or 0x7F <= ord(c) <= 0x9F)]
    kept = iter(out)
    assert all(c in kept for c in printable)  # everything else survives, in order
