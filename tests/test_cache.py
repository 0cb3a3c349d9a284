"""Response cache: exact and near-duplicate matches, TTL, size cap, privacy; and the engine's
use of it against the loopback server (a hit calls nothing, costs $0, reports the saving)."""

from __future__ import annotations

import pytest

from app.core.calling.cache import FILE_NAME, ResponseCache, normalise
from app.core.calling.engine import Engine
from app.core.calling.events import AttemptStarted, CacheHit, TurnFinished
from app.core.config import paths
from app.core.config.settings import CacheConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def conv(prompt: str, history=()) -> list[dict[str, str]]:
    return [*history, {"role": "user", "content": prompt}]


LONG = ("Summarise the following release notes for a product manager in three bullet points, "
        "keeping the tone neutral and mentioning the migration steps that operators need.")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    c = ResponseCache(CacheConfig(near_duplicate=True, similarity=0.9, ttl_s=100,
                                  max_entries=3), clock=clock)
    yield c
    c.close()


def test_stored_under_the_cache_dir_not_the_ledger(cache):
    assert cache.path == paths.cache_dir() / FILE_NAME
    assert cache.path.exists() and cache.path.name != "routedeck.db"


def test_exact_match_on_normalised_conversation_and_model(cache):
    cache.put(conv("What is  the Capital of France?"), "m1", "cheap", "Paris", 12, 3)
    hit = cache.get(conv("what is the capital of france?\n"), "m1")
    assert hit is not None and hit.answer == "Paris" and hit.similarity == 1.0
    assert (hit.input_tokens, hit.output_tokens, hit.tier) == (12, 3, "cheap")
    assert cache.get(conv("What is the capital of France?"), "m2") is None  # other model
    other_history = [{"role": "user", "content": "We talk about Texas."},
                     {"role": "assistant", "content": "OK."}]
    assert cache.get(conv("What is the capital of France?", other_history), "m1") is None


def test_near_duplicate_match_above_similarity(cache):
    cache.put(conv(LONG), "m1", "cheap", "bullets", 40, 20)
    hit = cache.get(conv(LONG.replace("three bullet points", "three bulleted points")), "m1")
    assert hit is not None and hit.answer == "bullets" and 0.9 <= hit.similarity < 1.0
    assert cache.get(conv("Write a haiku about the sea at night."), "m1") is None


def test_near_duplicate_never_matches_different_numbers(cache):
    prompt = LONG + " The release is version 4.2 with 17 fixes."
    cache.put(conv(prompt), "m1", "cheap", "answer", 40, 20)
    assert cache.get(conv(prompt.replace("17 fixes", "18 fixes")), "m1") is None


def test_near_duplicate_off_by_default(clock):
    c = ResponseCache(CacheConfig(), clock=clock)
    c.put(conv(LONG), "m1", "cheap", "bullets", 40, 20)
    assert c.get(conv(LONG + " Please."), "m1") is None
    assert c.get(conv(LONG), "m1") is not None
    c.close()


def test_ttl_expires_entries(cache, clock):
    cache.put(conv("ping"), "m1", "cheap", "pong", 1, 1)
    clock.now += 99
    assert cache.get(conv("ping"), "m1") is not None
    clock.now += 2
    assert cache.get(conv("ping"), "m1") is None
    cache.put(conv("other"), "m1", "cheap", "x", 1, 1)  # a write sweeps expired rows
    assert len(cache) == 1


def test_size_cap_evicts_least_recently_used(cache, clock):
    for i in range(3):
        clock.now += 1
        cache.put(conv(f"question {i}"), "m1", "cheap", f"answer {i}", 1, 1)
    clock.now += 1
    assert cache.get(conv("question 0"), "m1") is not None  # 0 is now recently used
    clock.now += 1
    cache.put(conv("question 3"), "m1", "cheap", "answer 3", 1, 1)
    assert len(cache) == 3
    assert cache.get(conv("question 1"), "m1") is None
    assert cache.get(conv("question 0"), "m1") is not None


def test_privacy_mode_keeps_exact_match_without_prompt_text(clock):
    c = ResponseCache(CacheConfig(near_duplicate=True), store_prompts=False, clock=clock)
    c.put(conv(LONG), "m1", "cheap", "bullets", 40, 20)
    assert c.get(conv(LONG), "m1") is not None
    rows = c._db.execute("SELECT prompt_norm FROM entries").fetchall()
    assert rows == [("",)]
    c.close()


def test_persists_across_instances(clock):
    a = ResponseCache(CacheConfig(), clock=clock)
    a.put(conv("ping"), "m1", "cheap", "pong", 1, 1)
    a.close()
    b = ResponseCache(CacheConfig(), clock=clock)
    assert b.get(conv("ping"), "m1").answer == "pong"
    b.close()


def test_normalise():
    assert normalise("  Hello\n\tWORLD  ") == "hello world"


async def test_engine_cache_hit_costs_nothing_and_reports_saving(loopback, loopback_settings):
    settings = loopback_settings()
    cache = ResponseCache(settings.cache)
    rows = []
    engine = Engine(settings, recorder=type("R", (), {
        "record_attempt": lambda self, r: rows.append(r) or len(rows)})(), cache=cache)
    first = [e async for e in engine.run_turn("hello there", [])]
    second = [e async for e in engine.run_turn("Hello   there", [])]
    assert len(loopback.bodies()) == 1  # the second turn called nothing
    hit, = [e for e in second if isinstance(e, CacheHit)]
    fin = second[-1]
    assert isinstance(fin, TurnFinished) and fin.answer.cached and fin.status == "ok"
    assert fin.answer.cost_usd == 0 and fin.answer.text == first[-1].answer.text == hit.text
    assert hit.saved_usd == pytest.approx(first[-1].answer.cost_usd)
    assert not [e for e in second if isinstance(e, AttemptStarted)]
    assert rows[-1].cache_hit and rows[-1].cost_usd == 0 and rows[-1].status == "ok"
    assert rows[-1].premium_cost_usd > 0
    # use_cache=False goes to the model again.
    third = [e async for e in engine.run_turn("hello there", [], use_cache=False)]
    assert not third[-1].answer.cached and len(loopback.bodies()) == 2
    await engine.aclose()
    cache.close()


async def test_engine_does_not_cache_failed_or_truncated_answers(loopback, loopback_settings):
    from tests.loopback_server import Fault

    settings = loopback_settings(max_retries=0)
    cache = ResponseCache(settings.cache)
    engine = Engine(settings, cache=cache)
    loopback.fail_always(Fault.cut(2))
    events = [e async for e in engine.run_turn("hello there", [], tier="premium")]
    assert events[-1].status == "truncated"
    assert len(cache) == 0
    await engine.aclose()
    cache.close()


def test_unreadable_cache_is_a_miss(tmp_path):
    path = tmp_path / "c.sqlite3"
    c = ResponseCache(CacheConfig(), path)
    c._db.execute("DROP TABLE entries")  # simulate a damaged file
    assert c.get(conv("ping"), "m1") is None
    assert c.put(conv("ping"), "m1", "cheap", "pong", 1, 1) is False
    c.close()
