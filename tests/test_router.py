"""Router policy: every rule that can fire, in its order of precedence, plus the classifier's
short-hard guard and the per-tier cost estimates."""

from __future__ import annotations

import pytest

from app.core.config.settings import Settings
from app.core.ledger.records import BudgetState
from app.core.routing.classify import classify
from app.core.routing.policy import SessionState, decide, route
from app.core.routing.types import Classification


def three_tier(**router) -> Settings:
    return Settings(
        providers={"openai": {}, "local": {"base_url": "http://127.0.0.1:1/v1", "api_key_env": ""}},
        tiers=[
            {"name": "local", "provider": "local", "model": "llama3.1:8b"},
            {"name": "cheap", "provider": "openai", "model": "gpt-4o-mini"},
            {"name": "premium", "provider": "openai", "model": "gpt-4o"},
        ],
        router={"thresholds": [0.3, 0.6], "low_confidence_margin": 0.0, "routine_max_chars": 0,
                **router},
    )


def c(score: float, task: str = "factual") -> Classification:
    return Classification(task, score, abs(score - 0.5) * 2, (), 5.0, "rules")


@pytest.mark.parametrize(("score", "tier"), [(0.0, "local"), (0.29, "local"), (0.3, "cheap"),
                                            (0.59, "cheap"), (0.6, "premium"), (1.0, "premium")])
def test_thresholds_pick_the_tier(score, tier):
    d = decide(c(score), three_tier(), "some prompt")
    assert d.tier == tier and d.rule == "threshold"
    assert f"{score:.2f}" in d.reason


def test_low_confidence_band_goes_one_tier_up():
    s = three_tier(low_confidence_margin=0.05)
    d = decide(c(0.27), s, "x")
    assert d.tier == "cheap" and d.rule == "low_confidence" and "low confidence" in d.reason
    assert decide(c(0.2), s, "x").tier == "local"


def test_task_type_minimum_tier():
    # "code" is the old name of code_write + code_debug, still accepted in config files.
    d = decide(c(0.1, "code_write"), three_tier(task_min_tier={"code": "premium"}), "x")
    assert d.tier == "premium" and d.rule == "task_min" and "code_write" in d.reason
    assert d.score >= d.threshold == 0.6


def test_keywords_escalate_and_deescalate():
    s = three_tier(escalate_keywords=["think carefully"], deescalate_keywords=["quick question"])
    up = decide(c(0.1), s, "Please THINK CAREFULLY about this")
    assert up.tier == "premium" and up.rule == "keyword" and "think carefully" in up.reason
    down = decide(c(0.9), s, "quick question: what's 2+2")
    assert down.tier == "local" and down.rule == "keyword"
    # Whole words only: "thinkcarefully" is not the keyword.
    assert decide(c(0.1), s, "thinkcarefully").tier == "local"


def test_force_and_pin_override_the_score():
    s = three_tier()
    forced = decide(c(0.0), s, "x", SessionState(force_next="premium"))
    assert forced.tier == "premium" and forced.forced and forced.rule == "forced"
    pinned = decide(c(0.99), s, "x", SessionState(pinned_tier="local"))
    assert pinned.tier == "local" and pinned.pinned and "pinned" in pinned.reason
    both = decide(c(0.0), s, "x", SessionState(pinned_tier="cheap", force_next="premium"))
    assert both.tier == "premium"


def test_sticky_session_keeps_the_higher_tier():
    st = SessionState(sticky_tier="premium", sticky_reason="fell back to premium earlier")
    d = decide(c(0.0), three_tier(), "x", st)
    assert d.tier == "premium" and d.rule == "sticky" and d.reason == "fell back to premium earlier"


def test_budget_downgrade_counts_the_next_call():
    s = three_tier()
    s.budget.session_usd = 1.0
    s.budget.act_at_fraction = 0.9
    # 0.899 spent: only the estimate of the next premium call tips it over 90%.
    d = decide(c(0.9), s, "x" * 4000, budget=BudgetState(session_spent=0.899))
    assert d.tier == "local" and d.rule == "budget_downgrade" and "session budget" in d.reason
    calm = decide(c(0.9), s, "x", budget=BudgetState(session_spent=0.10))
    assert calm.tier == "premium"


def test_budget_block_blocks_even_forced_calls():
    s = three_tier()
    s.budget.daily_usd = 2.0
    s.budget.action = "block"
    d = decide(c(0.9), s, "x", SessionState(force_next="premium"), BudgetState(day_spent=1.95))
    assert d.blocked and d.rule == "budget_block" and "daily budget" in d.reason


def test_estimates_cover_every_tier_and_unknown_price_is_none():
    d = route("Summarise this paragraph about rivers.", three_tier())
    by_tier = {e.tier: e for e in d.estimates}
    assert set(by_tier) == {"local", "cheap", "premium"}
    assert by_tier["local"].cost_usd is None  # no price known for a local model
    assert by_tier["cheap"].cost_usd < by_tier["premium"].cost_usd
    assert all(e.input_tokens > 5 for e in d.estimates)


def test_price_override_from_config_wins():
    s = three_tier()
    s.tiers[0].input_per_mtok = 0.0
    s.tiers[0].output_per_mtok = 0.0
    d = route("hello", s)
    assert d.estimate_for("local").cost_usd == 0.0


def test_estimates_follow_a_price_changed_on_the_same_settings():
    # Prices are looked up once per tier and reused; a change to the settings in place
    # (a reloaded config, a test) must still show at once.
    s = Settings(router={"strategy": "rules"})
    s.tiers[0].input_per_mtok, s.tiers[0].output_per_mtok = 1.0, 2.0
    first = route("hello there", s).estimate_for(s.tiers[0].name)
    s.tiers[0].output_per_mtok = 20.0
    second = route("hello there", s).estimate_for(s.tiers[0].name)
    assert second.cost_usd > first.cost_usd
    s.router.expected_output_tokens = 10
    third = route("hello there", s).estimate_for(s.tiers[0].name)
    assert third.output_tokens == 10 and third.cost_usd < second.cost_usd


@pytest.mark.parametrize("strategy", ["rules", "learned"])
@pytest.mark.parametrize("prompt", [
    "Prove that the square root of 2 is irrational.",
    "Show that there are infinitely many primes.",
    "Prove that every bounded monotone sequence of reals converges.",
])
def test_short_hard_prompts_do_not_go_cheap(prompt, strategy):
    s = Settings(router={"strategy": strategy})
    assert route(prompt, s).tier == "premium"


@pytest.mark.parametrize("strategy", ["rules", "learned"])
@pytest.mark.parametrize("prompt", ["hi", "thanks!", "What is the capital of France?"])
def test_easy_prompts_go_cheap(prompt, strategy):
    s = Settings(router={"strategy": strategy})
    assert route(prompt, s).tier == "cheap"


def test_classification_is_explained_and_fast():
    r = classify("Compare plan A with plan B: costs of 120 USD vs 95 USD per month?", strategy="rules")
    assert 0.0 <= r.score <= 1.0 and 0.0 <= r.confidence <= 1.0
    assert r.signals and all(s.label and not s.label.startswith("f") or " " in s.label for s in r.signals)
    assert any("compare" in s.label for s in r.signals)
    assert r.task_type == "analysis"
    assert r.decision_us < 50_000


def test_follow_up_inherits_the_previous_question():
    history = [{"role": "user", "content": "Prove that there are infinitely many primes."},
               {"role": "assistant", "content": "Suppose finitely many..."}]
    alone = classify("and why?", strategy="rules")
    follow = classify("and why?", history, strategy="rules")
    assert follow.score > alone.score
    assert any("follow-up" in s.label for s in follow.signals)
