"""The one cost function, end to end: the engine streams from the loopback server, prices the
attempt at record time, and the stored row, the turn's answer and the ledger totals agree.

Prices (USD per million tokens, from the config so nothing depends on genai-prices' data):
cheap    in 0.15  out 0.60  cached-in 0.075
premium  in 2.50  out 10.00 cached-in 1.25
mystery  no price at all (a local model genai-prices does not know)
"""

from __future__ import annotations

import pytest

from app.core.calling.cache import ResponseCache
from app.core.calling.engine import Engine
from app.core.config.loader import load_settings
from app.core.ledger.reader import Ledger
from app.core.ledger.store import SQLiteStore, Store
from tests.loopback_server import Fault


def config(base_url: str, cheap_model: str = "cheap-model", cheap_priced: bool = True) -> str:
    cheap_price = ("input_per_mtok = 0.15\noutput_per_mtok = 0.60\n"
                   "cached_input_per_mtok = 0.075\n") if cheap_priced else ""
    return (
        f'[providers.loop]\nbase_url = "{base_url}"\napi_key_env = ""\n\n'
        f'[[tiers]]\nname = "cheap"\nprovider = "loop"\nmodel = "{cheap_model}"\n{cheap_price}\n'
        '[[tiers]]\nname = "premium"\nprovider = "loop"\nmodel = "premium-model"\n'
        "input_per_mtok = 2.5\noutput_per_mtok = 10.0\ncached_input_per_mtok = 1.25\n\n"
        "[router]\nthresholds = [0.99]\n\n[engine]\nmax_retries = 0\n"
    )


@pytest.fixture
def make(loopback, tmp_path):
    stores: list[Store] = []

    def build(**kw) -> tuple[Engine, Store]:
        path = tmp_path / f"c{len(stores)}.toml"
        path.write_text(config(loopback.base_url, **kw), encoding="utf-8")
        settings = load_settings(path)
        store = SQLiteStore.open(tmp_path / f"c{len(stores)}.db")
        stores.append(store)
        return Engine(settings, recorder=store, session_id=store.new_session()), store

    yield build
    for s in stores:
        s.close()


async def turn(engine: Engine, prompt: str = "hello", **kw):
    events = [e async for e in engine.run_turn(prompt, [], tier="cheap", **kw)]
    return events[-1]


async def test_provider_usage_is_priced_once_and_stored_with_its_snapshot(loopback, make):
    engine, store = make()
    loopback.fail_next(Fault.bad_usage({"prompt_tokens": 200_000, "completion_tokens": 50_000}))
    fin = await turn(engine)
    # 200k x 0.15 + 50k x 0.60 = 0.03 + 0.03; on premium 0.50 + 0.50
    assert fin.answer.cost_usd == pytest.approx(0.06)
    assert fin.answer.premium_cost_usd == pytest.approx(1.00)
    (row,) = store.requests()
    assert row["cost_usd"] == pytest.approx(0.06) and row["premium_cost_usd"] == pytest.approx(1.0)
    assert (row["price_input_per_mtok"], row["price_output_per_mtok"],
            row["price_cached_input_per_mtok"], row["price_source"]) == (0.15, 0.6, 0.075, "config")
    t = Ledger(store).totals()
    assert t.spent == pytest.approx(0.06) and t.savings == pytest.approx(0.94)


async def test_cached_input_tokens_at_the_cached_rate(loopback, make):
    engine, store = make()
    loopback.fail_next(Fault.bad_usage({
        "prompt_tokens": 200_000, "completion_tokens": 50_000,
        "prompt_tokens_details": {"cached_tokens": 100_000}}))
    fin = await turn(engine)
    # 100k fresh x 0.15 + 100k cached x 0.075 + 50k x 0.60 = 0.015 + 0.0075 + 0.03
    assert fin.answer.cost_usd == pytest.approx(0.0525)
    # The counterfactual assumes the same cache share: 0.25 + 0.125 + 0.50
    assert fin.answer.premium_cost_usd == pytest.approx(0.875)
    (row,) = store.requests()
    assert row["cached_input_tokens"] == 100_000 and row["cost_usd"] == pytest.approx(0.0525)


async def test_reasoning_tokens_are_inside_output_and_not_billed_twice(loopback, make):
    engine, store = make()
    loopback.fail_next(Fault.bad_usage({
        "prompt_tokens": 100_000, "completion_tokens": 40_000,
        "completion_tokens_details": {"reasoning_tokens": 30_000}}))
    fin = await turn(engine)
    # 100k x 0.15 + 40k x 0.60 (the 30k reasoning tokens are part of the 40k)
    assert fin.answer.cost_usd == pytest.approx(0.015 + 0.024)
    (row,) = store.requests()
    assert row["reasoning_tokens"] == 30_000 and row["output_tokens"] == 40_000


async def test_unknown_price_is_none_never_zero(loopback, make):
    engine, store = make(cheap_model="mystery-local-model-7b", cheap_priced=False)
    loopback.fail_next(Fault.bad_usage({"prompt_tokens": 1000, "completion_tokens": 1000}))
    fin = await turn(engine)
    assert fin.status == "ok" and fin.answer.cost_usd is None
    # Its counterfactual is still known: 1000 x 2.5 + 1000 x 10 = $0.0125
    assert fin.answer.premium_cost_usd == pytest.approx(0.0125)
    (row,) = store.requests()
    assert row["cost_usd"] is None and row["price_source"] is None
    t = Ledger(store).totals()
    assert t.unpriced == 1 and t.spent_text == "at least $0, 1 call unpriced"
    assert t.savings is None  # an unpriced turn can neither inflate nor hide a saving


async def test_estimated_usage_is_priced_the_same_and_flagged(loopback, make):
    engine, store = make()
    loopback.send_usage = False
    fin = await turn(engine)
    assert fin.answer.usage.source == "estimated" and fin.answer.cost_usd > 0
    (row,) = store.requests()
    assert row["usage_source"] == "estimated"
    t = Ledger(store).totals()
    assert t.estimated == 1 and t.spent == pytest.approx(fin.answer.cost_usd)


async def test_cache_hit_costs_zero_and_keeps_its_counterfactual(loopback, make, tmp_path):
    engine, store = make()
    engine.cache = ResponseCache(engine.settings.cache, tmp_path / "cache.sqlite3")
    try:
        first = await turn(engine)
        hit = await turn(engine)
    finally:
        engine.cache.close()
    assert hit.answer.cached and hit.answer.cost_usd == 0
    assert hit.answer.premium_cost_usd == pytest.approx(first.answer.premium_cost_usd)
    t = Ledger(store).totals()
    assert t.cache_hits == 1 and t.spent == pytest.approx(first.answer.cost_usd)
    assert t.premium == pytest.approx(2 * first.answer.premium_cost_usd)


def test_one_amount_summed_two_ways_prints_the_same():
    from app.core.ledger.money import format_usd

    a, b = 2.0749999999999997, 2.0750000000000002  # the same spend, summed in other orders
    assert format_usd(a) == format_usd(b)
    assert format_usd(0.00012300000000000001) == format_usd(0.000123) == "$0.000123"
