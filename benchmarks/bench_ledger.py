"""Ledger benchmark: insert 100,000 request rows, then time the `report` computation, on
SQLite and on PostgreSQL.

Budget (DESIGN.md / issue 5): the report over 100k rows takes <= 1 s.

    .venv/bin/python benchmarks/bench_ledger.py [--rows N] [--db PATH]
        [--backend sqlite|postgresql|both] [--url postgresql://user@host/db]

Rows are inserted two ways: one committed transaction per attempt (what the engine does,
so a crash loses at most one attempt) for a sample, and batched for the bulk. PostgreSQL:
``--url`` names an empty database (password in $ROUTEDECK_PG_PASSWORD); without it a
throw-away server is started from the system's PostgreSQL binaries, as the tests do.
``report --by user|host|tier|model|task`` is timed too (same budget).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.ledger.reader import DIMENSIONS, Ledger
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, Store

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
            cache_hit = not failed and rng.random() < 0.05
            cost = None if unpriced else 0.0 if cache_hit else (inp * pin + out * pout) / 1e6
            rows.append(AttemptRecord(
                turn_id=f"t{turn}", attempt=attempt, session_id=session, tier=name,
                model=model, provider="openai", status="error" if failed else "ok",
                started_at=started + attempt, prompt="benchmark prompt", answer="answer",
                task_type="chat", score=rng.random(), rule="threshold", reason="bench",
                fallback_from=TIERS[chain[0]][0] if attempt > 1 else None,
                cache_hit=cache_hit, cost_usd=cost,
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


def bench(store: Store, rows: list[AttemptRecord], single_n: int) -> dict:
    single = rows[:single_n]
    t = time.perf_counter()
    for rec in single:
        store.record_attempt(rec)
    single_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(single_n, len(rows), 5_000):
        store.record_attempts(rows[i:i + 5_000])
    batch_s = time.perf_counter() - t
    # Verdicts on 1,000 cheap answers, so the satisfaction join has work to do.
    pairs = {tier: [r[0] for r in store.query(
        "SELECT id FROM requests WHERE tier = ? AND status = 'ok' ORDER BY id LIMIT 1000",
        (tier,))] for tier in ("cheap", "premium")}
    for a, b in zip(pairs["cheap"], pairs["premium"], strict=False):
        store.add_verdict(a, b, ("cheap_enough", "tie", "premium_better")[a % 3])
    if store.backend == "postgresql":
        store.query("ANALYZE requests")  # what autovacuum would do soon after a bulk load
    ledger = Ledger(store)
    timings = []
    for _ in range(3):
        t = time.perf_counter()
        totals = ledger.totals()
        sat = ledger.satisfaction()
        timings.append(time.perf_counter() - t)
    by_s = {}
    for by in DIMENSIONS:  # what `report --by` runs: totals, breakdown and satisfaction
        t = time.perf_counter()
        ledger.report(by)
        ledger.satisfaction()
        by_s[by] = time.perf_counter() - t
    t = time.perf_counter()
    session_totals = ledger.totals(session_id=5, series=True)
    session_s = time.perf_counter() - t
    return dict(single=len(single), single_s=single_s, batch=len(rows) - len(single),
                batch_s=batch_s, report_s=min(timings), by_s=by_s, session_s=session_s,
                session_turns=session_totals.turns, totals=totals, judged=len(sat))


def show(backend: str, n: int, r: dict) -> bool:
    print(f"--- {backend}")
    print(f"rows                      {n:,}")
    if r["single"]:
        print(f"insert, 1 commit per row  {r['single'] / r['single_s']:,.0f} rows/s "
              f"({r['single']:,} rows, {r['single_s']:.2f} s)")
    if r["batch"]:
        print(f"insert, batched           {r['batch'] / r['batch_s']:,.0f} rows/s "
              f"({r['batch']:,} rows, {r['batch_s']:.2f} s)")
    ok = r["report_s"] <= BUDGET_S
    print(f"report (totals + satisfaction) over all rows: {r['report_s'] * 1000:.0f} ms "
          f"(best of 3; budget {BUDGET_S * 1000:.0f} ms) {'OK' if ok else 'OVER BUDGET'}")
    print("report --by (totals + groups + satisfaction): " + ", ".join(
        f"{k} {v * 1000:.0f} ms" for k, v in r["by_s"].items()))
    print(f"session totals with series ({r['session_turns']} turns): "
          f"{r['session_s'] * 1000:.1f} ms")
    t = r["totals"]
    print(f"  turns {t.turns:,}  calls {t.calls:,}  spent {t.spent_text}  "
          f"all-premium ${t.premium:,.2f}  saved ${t.savings or 0:,.2f} "
          f"({t.savings_pct or 0:.1f}%)  models judged {r['judged']}")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=2_000,
                    help="rows inserted one committed transaction each (engine path)")
    ap.add_argument("--db", type=Path, help="SQLite database file (default: a temp dir)")
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--url", help="an empty PostgreSQL database (default: a throw-away server)")
    args = ap.parse_args(argv)
    rows = make_rows(args.rows)
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            with SQLiteStore.open(args.db or Path(tmp) / "bench.db") as store:
                ok &= show("sqlite", len(rows), bench(store, rows, args.single))
    if args.backend in ("postgresql", "both"):
        ok &= _postgres(args, rows)
    return 0 if ok else 1


def _postgres(args: argparse.Namespace, rows: list[AttemptRecord]) -> bool:
    import os

    from app.core.config.settings import Settings
    from app.core.ledger.store import open_store

    server = None
    url = args.url
    if url is None:
        from tests.pg_server import PgServer

        server = PgServer().start()
        name, _janitor = server.new_database()
        url = server.url(name)
        os.environ["ROUTEDECK_PG_PASSWORD"] = server.password
    try:
        with open_store(Settings(store={"url": url})) as store:
            return show(f"postgresql ({store.location})", len(rows),
                        bench(store, rows, args.single))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
