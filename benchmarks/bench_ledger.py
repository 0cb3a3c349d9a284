"""Ledger benchmark: insert 100,000 request rows, then time the `report` computation.

Budget (DESIGN.md / issue 5): the report over 100k rows takes <= 1 s.

    .venv/bin/python benchmarks/bench_ledger.py [--rows N] [--db PATH]

Rows are inserted two ways: one committed transaction per attempt (what the engine does,
so a crash loses at most one attempt) for a sample, and batched for the bulk.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.ledger.reader import Ledger
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import Store

TIERS = (("cheap", "gpt-4o-mini", 0.15, 0.60, 0.075), ("premium", "gpt-4o", 2.5, 10.0, 1.25))
BUDGET_S = 1.0


def make_rows(n: int, seed: int = 7) -> list[AttemptRecord]:
    """Synthetic but realistic traffic: ~10% fallback chains, some cache hits, some unpriced."""
    rng = random.Random(seed)
    rows: list[AttemptRecord] = []
    t0 = time.time() - 30 * 86400
    turn = 0
    while len(rows) < n:
        turn += 1
        session = 1 + turn // 50
        started = t0 + turn * 10.0
        tier_i = 0 if rng.random() < 0.75 else 1
        chain = [tier_i, 1] if tier_i == 0 and rng.random() < 0.1 else [tier_i]
        for attempt, ti in enumerate(chain, start=1):
            name, model, pin, pout, pcached = TIERS[ti]
            unpriced = rng.random() < 0.01
            failed = attempt < len(chain)
            inp, out = rng.randint(50, 4000), rng.randint(0 if failed else 20, 1200)
            rows.append(AttemptRecord(
                turn_id=f"t{turn}", attempt=attempt, session_id=session, tier=name,
                model=model, provider="openai", status="error" if failed else "ok",
                started_at=started + attempt, prompt="benchmark prompt", answer="answer",
                task_type="chat", score=rng.random(), rule="threshold", reason="bench",
                fallback_from=TIERS[chain[0]][0] if attempt > 1 else None,
                cache_hit=not failed and rng.random() < 0.05,
                error_kind="server_error" if failed else None,
                input_tokens=inp, output_tokens=out,
                cached_input_tokens=rng.choice((0, 0, inp // 2)),
                usage_source="provider" if rng.random() < 0.9 else "estimated",
                price_input_per_mtok=None if unpriced else pin,
                price_output_per_mtok=None if unpriced else pout,
                price_cached_input_per_mtok=None if unpriced else pcached,
                price_source=None if unpriced else "config",
                premium_cost_usd=(inp * 2.5 + out * 10.0) / 1e6,
                latency_s=rng.uniform(0.2, 5), ttft_s=rng.uniform(0.05, 1),
                decision_us=rng.uniform(20, 200),
            ))
            if len(rows) >= n:
                break
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=2_000,
                    help="rows inserted one committed transaction each (engine path)")
    ap.add_argument("--db", type=Path, help="database file (default: a temp dir)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.db"
        store = Store.open(db)
        rows = make_rows(args.rows)
        single = rows[: args.single]
        t = time.perf_counter()
        for rec in single:
            store.record_attempt(rec)
        single_s = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(args.single, len(rows), 5_000):
            store.record_attempts(rows[i:i + 5_000])
        batch_s = time.perf_counter() - t
        n_batch = len(rows) - len(single)
        # Verdicts on 1,000 cheap answers, so the satisfaction join has work to do.
        pairs = {tier: [r[0] for r in store.query(
            "SELECT id FROM requests WHERE tier = ? AND status = 'ok' LIMIT 1000", (tier,))]
            for tier in ("cheap", "premium")}
        for a, b in zip(pairs["cheap"], pairs["premium"], strict=False):
            store.add_verdict(a, b, ("cheap_enough", "tie", "premium_better")[a % 3])

        ledger = Ledger(store)
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            totals = ledger.totals()
            sat = ledger.satisfaction()
            timings.append(time.perf_counter() - t)
        report_s = min(timings)
        t = time.perf_counter()
        session_totals = ledger.totals(session_id=5, series=True)
        session_s = time.perf_counter() - t
        store.close()

    print(f"rows                      {len(rows):,}")
    if single:
        print(f"insert, 1 commit per row  {len(single) / single_s:,.0f} rows/s "
              f"({len(single):,} rows, {single_s:.2f} s)")
    if n_batch:
        print(f"insert, batched           {n_batch / batch_s:,.0f} rows/s "
              f"({n_batch:,} rows, {batch_s:.2f} s)")
    print(f"report (totals + satisfaction) over all rows: {report_s * 1000:.0f} ms "
          f"(best of 3; budget {BUDGET_S * 1000:.0f} ms) "
          f"{'OK' if report_s <= BUDGET_S else 'OVER BUDGET'}")
    print(f"session totals with series ({session_totals.turns} turns): {session_s * 1000:.1f} ms")
    print(f"  turns {totals.turns:,}  calls {totals.calls:,}  spent {totals.spent_text}  "
          f"all-premium ${totals.premium:,.2f}  saved ${totals.savings or 0:,.2f} "
          f"({totals.savings_pct or 0:.1f}%)  models judged {len(sat)}")
    return 0 if report_s <= BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
