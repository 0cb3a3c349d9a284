"""Budgets end to end: spend recorded in the store -> Ledger.budget_state -> router.decide.

The router applies [budget] with the estimated cost of the next call added before it is
sent; these tests feed it real numbers from the ledger.
"""

from __future__ import annotations

import time

import pytest

from app.core.config.settings import Settings, TierConfig
from app.core.ledger.reader import Ledger, local_midnight
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, Store
from app.core.routing.policy import route

PROMPT = "prove that the square root of two is irrational"  # routes to the top tier


def settings(action: str = "downgrade", session_usd: float | None = 1.0,
             daily_usd: float | None = None) -> Settings:
    return Settings(
        tiers=[
            TierConfig(name="cheap", provider="openai", model="gpt-4o-mini",
                       input_per_mtok=0.15, output_per_mtok=0.60),
            TierConfig(name="premium", provider="openai", model="gpt-4o",
                       input_per_mtok=2.5, output_per_mtok=10.0),
        ],
        router={"strategy": "rules"},
        budget={"session_usd": session_usd, "daily_usd": daily_usd, "act_at_fraction": 0.9,
                "action": action},
    )


def spend(store: Store, session_id: int | None, usd: float, at: float | None = None) -> None:
    store.record_attempt(AttemptRecord(
        turn_id=f"t{time.monotonic_ns()}", attempt=1, session_id=session_id, tier="cheap",
        model="gpt-4o-mini", provider="openai", status="ok",
        started_at=time.time() if at is None else at, cost_usd=usd))


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore.open(tmp_path / "b.db")
    yield s
    s.close()


def premium_estimate(s: Settings) -> float:
    d = route(PROMPT, s)
    assert d.tier == "premium" and not d.rule.startswith("budget")
    est = d.estimate_for("premium").cost_usd
    assert est is not None and est > 0
    return est


def test_budget_state_counts_session_and_local_day(store):
    a, b = store.new_session(), store.new_session()
    yesterday = local_midnight() - 3600
    spend(store, a, 0.40, at=yesterday)  # session a started before midnight
    spend(store, a, 0.10)
    spend(store, b, 0.25)
    spend(store, None, None)  # unpriced: unknown, cannot be counted
    led = Ledger(store)
    st = led.budget_state(a)
    assert st.session_spent == pytest.approx(0.50)
    assert st.day_spent == pytest.approx(0.35)
    assert led.budget_state(None).session_spent == 0.0


def test_far_from_the_cap_routing_is_untouched(store):
    s = settings()
    sid = store.new_session()
    spend(store, sid, 0.10)
    d = route(PROMPT, s, budget=Ledger(store).budget_state(sid))
    assert (d.tier, d.blocked) == ("premium", False) and not d.rule.startswith("budget")


def test_next_call_estimate_tips_it_into_downgrade(store):
    s = settings("downgrade")
    est = premium_estimate(s)
    sid = store.new_session()
    # Spent alone is under 90% of $1; spent + the premium call's estimate reaches it.
    spend(store, sid, 0.9 - est / 2)
    budget = Ledger(store).budget_state(sid)
    assert budget.session_spent < 0.9
    d = route(PROMPT, s, budget=budget)
    assert (d.tier, d.rule, d.blocked) == ("cheap", "budget_downgrade", False)
    assert "session budget" in d.reason and "next" in d.reason
    assert "staying on the cheapest tier" in d.reason


def test_block_action_blocks_with_reason(store):
    s = settings("block")
    est = premium_estimate(s)
    sid = store.new_session()
    spend(store, sid, 0.9 - est / 2)
    d = route(PROMPT, s, budget=Ledger(store).budget_state(sid))
    assert d.blocked and d.rule == "budget_block"
    assert "call blocked" in d.reason and "session budget" in d.reason


def test_daily_cap_counts_other_sessions_today_not_yesterday(store):
    s = settings("block", session_usd=None, daily_usd=2.0)
    other, mine = store.new_session(), store.new_session()
    spend(store, other, 5.0, at=local_midnight() - 60)  # yesterday: does not count
    spend(store, other, 1.5)
    d = route(PROMPT, s, budget=Ledger(store).budget_state(mine))
    assert not d.blocked  # 1.5 + a premium call is under 90% of $2
    spend(store, other, 0.3)  # 1.8 today = 90% of $2
    d = route(PROMPT, s, budget=Ledger(store).budget_state(mine))
    assert d.blocked and "daily budget" in d.reason


def test_downgrade_never_passes_the_cap_itself(store):
    # Between act_at_fraction and the cap "downgrade" keeps to the cheapest tier; a call
    # that would go over the cap even there, or on a forced or pinned premium, is blocked.
    from app.core.routing.policy import SessionState

    s = settings("downgrade")
    sid = store.new_session()
    est = premium_estimate(s)
    spend(store, sid, 1.0 - est / 2)  # cheap still fits under the cap, premium does not
    budget = Ledger(store).budget_state(sid)
    d = route(PROMPT, s, budget=budget)
    assert (d.tier, d.rule, d.blocked) == ("cheap", "budget_downgrade", False)
    forced = route(PROMPT, s, budget=budget, state=SessionState(force_next="premium"))
    assert forced.blocked and forced.rule == "budget_block"
    assert "over the cap even on premium" in forced.reason
    spend(store, sid, est)  # past the cap already
    over = route(PROMPT, s, budget=Ledger(store).budget_state(sid))
    assert over.blocked and "over the cap even on cheap" in over.reason
