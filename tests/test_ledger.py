"""The totals the ledger panel and report show, on SQLite and PostgreSQL alike, pinned to the cent (rows priced by the engine's
own cost function; its rules are tested end to end in tests/test_costs.py).

Prices (USD per million tokens, set in config so nothing depends on genai-prices' data):
cheap  gpt-4o-mini  in 0.15  out 0.60  cached-in 0.075
premium gpt-4o      in 2.50  out 10.00 cached-in 1.25
"""

from __future__ import annotations

import time

import pytest

from app.core.config.settings import Settings, TierConfig
from app.core.ledger.costs import attempt_cost
from app.core.ledger.money import money_text
from app.core.ledger.reader import Ledger
from app.core.ledger.records import AttemptRecord, Usage
from app.core.ledger.store import Store
from tests.fakes import open_test_store

CHEAP = dict(tier="cheap", model="gpt-4o-mini", price_input_per_mtok=0.15,
             price_output_per_mtok=0.60, price_cached_input_per_mtok=0.075,
             price_source="config")
PREMIUM = dict(tier="premium", model="gpt-4o", price_input_per_mtok=2.5,
               price_output_per_mtok=10.0, price_cached_input_per_mtok=1.25,
               price_source="config")
LOCAL_UNPRICED = dict(tier="local", model="mystery-model")


def settings() -> Settings:
    return Settings(tiers=[
        TierConfig(name="cheap", provider="openai", model="gpt-4o-mini", input_per_mtok=0.15,
                   output_per_mtok=0.60, cached_input_per_mtok=0.075),
        TierConfig(name="premium", provider="openai", model="gpt-4o", input_per_mtok=2.5,
                   output_per_mtok=10.0, cached_input_per_mtok=1.25),
    ])


def rec(turn: str, attempt: int = 1, price: dict | None = None, session_id: int | None = 1,
        started_at: float | None = None, **kw) -> AttemptRecord:
    fields = dict(price or CHEAP)
    fields.update(kw)
    return AttemptRecord(
        turn_id=turn, attempt=attempt, session_id=session_id, provider="openai",
        status=fields.pop("status", "ok"),
        started_at=time.time() if started_at is None else started_at, **fields)


def cents(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


@pytest.fixture
def store(backend):
    """The same figures on both backends: SQLite and a real PostgreSQL server."""
    s = open_test_store()
    s.new_session("one")
    s.new_session("two")
    yield s
    s.close()


def stamp(rec: AttemptRecord, s: Settings) -> AttemptRecord:
    """Price a hand-made row with the engine's own cost function (one definition of cost)."""
    tier = s.tier(rec.tier) if rec.tier in [t.name for t in s.tiers] else \
        TierConfig(name=rec.tier, provider="openai", model=rec.model)
    usage = Usage(rec.input_tokens, rec.output_tokens, rec.cached_input_tokens,
                  rec.reasoning_tokens)
    return attempt_cost(s, tier, usage, cache_hit=rec.cache_hit).fill(rec)


def test_the_store_keeps_the_snapshot_and_never_reprices(store):
    s = settings()
    rid = store.record_attempt(stamp(rec("t", input_tokens=1_000_000, output_tokens=0), s))
    assert store.request(rid)["cost_usd"] == pytest.approx(0.15)
    assert store.request(rid)["price_input_per_mtok"] == 0.15
    # Prices change later; the ledger never re-prices old rows.
    s.tiers[0].input_per_mtok = 99.0
    assert cents(Ledger(store).totals().spent) == 0.15


# --- totals -----------------------------------------------------------------------------------


def _traffic(store: Store) -> None:
    """Five turns in session 1, one in session 2 (all costs fixed by hand above)."""
    s = settings()
    add = store.record_attempt
    # t1: cheap ok, $0.06 actual, $1.00 counterfactual
    add(stamp(rec("t1", input_tokens=200_000, output_tokens=50_000, usage_source="provider"), s))
    # t2: fallback chain: cheap fails after 200k in / 1k out ($0.0306, still paid), then
    # premium answers 200k in / 50k out ($1.00); counterfactual = premium once, $1.00.
    add(stamp(rec("t2", 1, status="error", error_kind="server_error", input_tokens=200_000,
                  output_tokens=1_000), s))
    add(stamp(rec("t2", 2, price=PREMIUM, fallback_from="cheap", input_tokens=200_000,
                  output_tokens=50_000), s))
    # t3: cache hit, $0, counterfactual $1.00
    add(stamp(rec("t3", cache_hit=True, input_tokens=200_000, output_tokens=50_000), s))
    # t4: unpriced local model; counterfactual $0.0125 but the turn is not fully priced
    add(stamp(rec("t4", price=LOCAL_UNPRICED, input_tokens=1000, output_tokens=1000), s))
    # t5: escalated to premium by the cascade, cached input: 0.25 + 0.125 + 0.5 = $0.875
    add(stamp(rec("t5", price=PREMIUM, escalated=True, escalation_reason="low logprob",
                  input_tokens=200_000, cached_input_tokens=100_000, output_tokens=50_000), s))
    # Session 2: cheap, estimated usage, $0.21 (cf: 2.5 + 1.0 = $3.50)
    add(stamp(rec("u1", session_id=2, input_tokens=1_000_000, output_tokens=100_000), s))


def test_session_totals_to_the_cent(store):
    _traffic(store)
    t = Ledger(store).totals(session_id=1, series=True)
    assert (t.turns, t.calls) == (5, 6)
    assert cents(t.spent) == cents(0.06 + 0.0306 + 1.00 + 0 + 0.875)  # $1.97
    assert t.unpriced == 1
    assert t.spent_text == "at least $1.97, 1 call unpriced"
    assert t.premium == pytest.approx(1.00 + 1.00 + 1.00 + 0.0125 + 0.875)
    # Savings over the four fully priced turns: cf 3.875 - actual 1.9656 = 1.9094 (49.3%)
    assert t.priced_turns == 4
    assert cents(t.savings) == 1.91
    assert round(t.savings_pct, 1) == 49.3
    assert (t.fallbacks, t.escalations, t.cache_hits, t.errors) == (1, 1, 1, 1)
    assert t.fallback_rate == pytest.approx(0.2) and t.cache_hit_rate == pytest.approx(0.2)
    assert t.tier_calls() == {"cheap": 3, "local": 1, "premium": 2}
    assert cents(t.by_tier["cheap"].spent) == 0.09  # 0.06 + 0.0306 + 0
    assert cents(t.by_tier["premium"].spent) == 1.88  # 1.00 + 0.875
    assert t.by_tier["local"].spent_text == "at least $0, 1 call unpriced"
    assert t.by_model["gpt-4o"].cached_input_tokens == 100_000
    assert [p.turn_id for p in t.series] == ["t1", "t2", "t3", "t4", "t5"]
    last = t.series[-1]
    assert cents(last.actual) == 1.97 and cents(last.premium) == cents(t.premium)


def test_all_time_totals_and_money_text(store):
    _traffic(store)
    t = Ledger(store).totals()
    assert (t.turns, t.calls, t.unpriced) == (6, 7, 1)
    assert cents(t.spent) == cents(1.9656 + 0.21)
    assert cents(t.savings) == cents(1.9094 + 3.50 - 0.21)
    assert money_text(1.5, 2) == "at least $1.50, 2 calls unpriced"
    assert money_text(0.2, 0) == "$0.20"


def test_a_failed_fallback_chain_costs_more_than_premium_alone(store):
    s = settings()
    store.record_attempt(stamp(rec("t", 1, status="error", input_tokens=200_000,
                                   output_tokens=1_000), s))
    store.record_attempt(stamp(rec("t", 2, price=PREMIUM, fallback_from="cheap",
                                   input_tokens=200_000, output_tokens=50_000), s))
    t = Ledger(store).totals()
    assert cents(t.spent) == 1.03  # 0.0306 + 1.00
    assert t.premium == pytest.approx(1.00)  # counted once per turn, not per attempt
    assert t.savings == pytest.approx(-0.0306)


def test_since_until_filters(store):
    s = settings()
    old, now = time.time() - 3 * 86400, time.time()
    store.record_attempt(stamp(rec("a", started_at=old, input_tokens=1_000_000), s))
    store.record_attempt(stamp(rec("b", started_at=now, input_tokens=2_000_000), s))
    led = Ledger(store)
    assert cents(led.totals(since=now - 60).spent) == 0.30
    assert cents(led.totals(until=now - 60).spent) == 0.15
    assert led.totals(session_id=99).calls == 0


def test_satisfaction_rates_per_model(store):
    s = settings()
    ids = []
    for i in range(4):
        cheap = store.record_attempt(stamp(rec(f"c{i}", input_tokens=10, output_tokens=10), s))
        prem = store.record_attempt(stamp(rec(f"p{i}", price=PREMIUM, escalated=True,
                                              input_tokens=10, output_tokens=10), s))
        ids.append((cheap, prem))
    for (cheap, prem), v in zip(ids, ("cheap_enough", "cheap_enough", "tie", "premium_better"),
                                strict=True):
        store.add_verdict(cheap, prem, v, kept_request_id=prem if v == "premium_better" else cheap)
    sat = Ledger(store).satisfaction()
    m = sat["gpt-4o-mini"]
    assert (m.verdicts, m.cheap_enough, m.tie, m.premium_better, m.satisfied) == (4, 2, 1, 1, 3)
    assert m.rate == pytest.approx(0.75)
    assert Ledger(store).satisfaction(session_id=2) == {}


def test_recent_rates_over_the_last_turns(store):
    s = settings()
    t0 = time.time() - 100
    for i in range(10):
        fallback = "cheap" if i >= 7 else None  # the last three turns all fell back
        store.record_attempt(stamp(rec(f"t{i}", started_at=t0 + i, fallback_from=fallback,
                                       escalated=(i == 9), input_tokens=10), s))
    rr = Ledger(store).recent_rates(1, window=5)
    assert (rr.turns, rr.fallbacks, rr.escalations, rr.troubled) == (5, 3, 1, 3)
    assert rr.rate == pytest.approx(0.6)
    assert Ledger(store).recent_rates(2, window=5).rate == 0.0


def test_to_dict_is_json_ready(store):
    import json

    _traffic(store)
    d = Ledger(store).totals(series=True).to_dict()
    json.dumps(d)
    assert d["spent_text"].startswith("at least $") and d["by_tier"]["cheap"]["calls"] == 4


def test_same_turn_id_in_two_sessions_are_two_turns(store):
    s = settings()
    store.record_attempt(stamp(rec("1", session_id=1, input_tokens=1_000_000), s))
    store.record_attempt(stamp(rec("1", session_id=2, input_tokens=1_000_000), s))
    t = Ledger(store).totals()
    assert t.turns == 2
    assert t.premium == pytest.approx(5.0)  # each turn's counterfactual counted once


def test_buckets_fold_tiers_and_models(store):
    s = settings()
    store.record_attempt(stamp(rec("a", input_tokens=10, latency_s=1.0), s))
    store.record_attempt(stamp(rec("b", input_tokens=20, latency_s=3.0), s))
    store.record_attempt(stamp(rec("c", input_tokens=30), s))  # no latency: not averaged
    store.record_attempt(stamp(rec("d", price=dict(CHEAP, model="other-mini"),
                                   input_tokens=40, latency_s=5.0), s))
    t = Ledger(store).totals()
    assert t.by_tier["cheap"].calls == 4 and t.by_tier["cheap"].input_tokens == 100
    assert t.by_tier["cheap"].mean_latency_s == pytest.approx(3.0)
    assert t.by_model["gpt-4o-mini"].mean_latency_s == pytest.approx(2.0)
    assert list(t.by_model) == ["gpt-4o-mini", "other-mini"]


@pytest.mark.parametrize("by", ["user", "host", "tier", "model", "task"])
def test_report_by_gives_the_same_totals_and_groups_in_fewer_passes(store, by):
    _traffic(store)
    led = Ledger(store)
    totals, groups = led.report(by)
    assert totals == led.totals()
    assert groups == led.breakdown(by)
    assert sum(g.calls for g in groups.values()) == totals.calls
    assert sum(g.turns for g in groups.values()) == totals.turns
    assert sum(g.premium for g in groups.values()) == pytest.approx(totals.premium)
    with pytest.raises(ValueError):
        led.report("weekday")


def test_per_tier_totals_follow_the_configured_tier_order(store):
    s = settings()
    for turn, price in (("a", PREMIUM), ("b", CHEAP), ("c", LOCAL_UNPRICED)):
        store.record_attempt(stamp(rec(turn, price=price, input_tokens=10, output_tokens=5), s))
    # Cheapest first as configured, then a tier no longer configured; not alphabetical.
    ordered = Ledger(store, ["cheap", "premium"]).totals(session_id=1).by_tier
    assert list(ordered) == ["cheap", "premium", "local"]
    assert list(Ledger(store).totals(session_id=1).by_tier) == ["cheap", "local", "premium"]
