"""``routedeck compare``: run prompts on two tiers and keep both answers as a pair awaiting a
human verdict (``routedeck review``).

Every call goes through the engine, so each answer is an ordinary ledger row with its own
cost. A side never falls back to another tier (a pair is only worth judging when each answer
came from the tier it claims), and a pair is stored only when both sides answered on the
tiers asked for; otherwise :attr:`PairResult.problem` says what happened.

The second side re-asks the first side's turn (as the console's compare view does), so the
ledger counts one turn per prompt, spent on both calls, against one all-premium call: a
comparison costs more than premium alone and never shows as a saving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.calling.events import Continues, TurnFinished
from app.core.config.settings import Settings
from app.core.conversation.stored import COMPARE_REASON, continuing
from app.core.ledger.store import Store, spool_dir
from app.core.ledger.writer import LedgerWriter, WriteOutcome
from app.core.routing.policy import estimates


@dataclass(frozen=True)
class PairResult:
    prompt: str
    a: TurnFinished
    b: TurnFinished
    pair_id: int | None  # None when a side did not answer on its tier (nothing to judge)
    problem: str = ""  # why no pair was stored, in words

    @property
    def ok(self) -> bool:
        return self.pair_id is not None

    @property
    def spent(self) -> float:
        return sum(f.answer.cost_usd or 0.0 for f in (self.a, self.b))


@dataclass(frozen=True)
class SpendEstimate:
    usd: float
    unpriced_calls: int
    calls: int


def default_pair(settings: Settings) -> tuple[str, str]:
    return settings.tiers[0].name, settings.tiers[-1].name


def parse_tiers(settings: Settings, spec: str | None) -> tuple[str, str]:
    """'cheap,premium' -> ('cheap', 'premium'), cheaper first; ValueError explains mistakes."""
    if not spec:
        return default_pair(settings)
    names = [t.name for t in settings.tiers]
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if len(parts) != 2 or parts[0] == parts[1]:
        raise ValueError("--tiers takes two different tier names, e.g. --tiers cheap,premium")
    unknown = [p for p in parts if p not in names]
    if unknown:
        raise ValueError(f"unknown tier {', '.join(unknown)} (tiers: {', '.join(names)})")
    a, b = sorted(parts, key=names.index)
    return a, b


def estimate_spend(settings: Settings, prompts: Sequence[str], tiers: tuple[str, str]) -> SpendEstimate:
    """What running every prompt on both tiers should cost, before anything is sent."""
    usd, unpriced = 0.0, 0
    for prompt in prompts:
        for e in estimates(settings, prompt):
            if e.tier in tiers:
                if e.cost_usd is None:
                    unpriced += 1
                else:
                    usd += e.cost_usd
    return SpendEstimate(usd, unpriced, 2 * len(prompts))


async def answer_on(engine, prompt: str, history: list[dict[str, str]], tier: str,
                    continues: Continues | None = None) -> TurnFinished:
    """Run one forced-tier turn (no fallback, no cache) to the end; its TurnFinished."""
    final: TurnFinished | None = None
    async for ev in engine.run_turn(prompt, history, tier=tier, use_cache=False,
                                    fallback=False, continues=continues):
        if isinstance(ev, TurnFinished):
            final = ev
    assert final is not None  # the engine always ends a turn with TurnFinished
    return final


def pair_problem(fin: TurnFinished, tier: str) -> str:
    """'' when ``fin`` is a complete answer from ``tier``, else what went wrong."""
    if fin.status != "ok" or not fin.answer.text:
        return f"{tier}: {fin.message or fin.status}"
    if fin.answer.tier != tier:
        return f"{tier}: answered by {fin.answer.tier} instead"
    return ""


async def run_pairs(
    settings: Settings,
    prompts: Sequence[str],
    tiers: tuple[str, str],
    store: Store,
    session_id: int | None,
    concurrency: int = 4,
    on_done: Callable[[PairResult], None] | None = None,
    on_ledger: Callable[[WriteOutcome], None] | None = None,
) -> list[PairResult]:
    """Answer every prompt on both tiers (at most ``concurrency`` prompts at once).

    ``on_ledger`` hears, at the end, what became of rows the store refused at first (kept
    and retried, spooled for the next command, or lost)."""
    from app.core.calling.engine import Engine
    from app.core.telemetry import instrument, shutdown

    writer = LedgerWriter(store, spool_dir(store))
    recorder = instrument(writer, settings)  # [telemetry]: export each attempt too
    engine = Engine(settings, recorder=recorder, session_id=session_id)
    gate = asyncio.Semaphore(max(1, concurrency))
    results: list[PairResult | None] = [None] * len(prompts)

    async def one(i: int, prompt: str) -> None:
        async with gate:
            a = await answer_on(engine, prompt, [], tiers[0])
            # A planned A/B re-run joins the prompt's turn but is no escalation: counted as
            # one, a batch compare read as 100% escalations (and could raise the alarm).
            continues = await asyncio.to_thread(continuing, store, a.answer.turn_id, tiers[0],
                                                f"{COMPARE_REASON} re-run on {tiers[1]}",
                                                escalates=False)
            b = await answer_on(engine, prompt, [], tiers[1], continues)
        pair_id = None
        problem = "; ".join(p for p in (pair_problem(a, tiers[0]), pair_problem(b, tiers[1]))
                            if p)
        ra, rb = a.answer.request_id, b.answer.request_id
        if not problem and (ra is None or rb is None):
            problem = "the answers could not be recorded in the ledger"
        if not problem:
            pair_id = await asyncio.to_thread(store.add_compare_pair, prompt, ra, rb,
                                              session_id=session_id)
        res = PairResult(prompt, a, b, pair_id, problem)
        results[i] = res
        if on_done is not None:
            on_done(res)

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    finally:
        await engine.aclose()
        shutdown(recorder)
        outcome = await asyncio.to_thread(writer.close)
        if on_ledger is not None:
            on_ledger(outcome)
    return [r for r in results if r is not None]
