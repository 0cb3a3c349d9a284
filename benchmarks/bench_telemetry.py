"""Telemetry benchmark: the time of one turn (the engine against the loopback OpenAI-compatible
server of tests/loopback_server.py, ledger in SQLite) with telemetry off, and on with the
collector down (port closed), hung (accepts, never answers) and up (a real OTLP/HTTP
receiver), as medians over interleaved rounds, with ratios to "off".

    .venv/bin/python benchmarks/bench_telemetry.py [--turns N] [--rounds R]

The issue's bar: a turn with the collector unreachable takes no longer than one without
telemetry. This machine has 2 cores and other work on it, so read the ratios, not the ms.
Closing time (flushing at exit, bounded to 1 s when the collector is down) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, aclosing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.calling.engine import Engine
from app.core.config.loader import load_settings
from app.core.ledger.store import SQLiteStore
from app.core.telemetry import instrument, shutdown
from tests.loopback_server import LoopbackServer, config_toml
from tests.otlp_receiver import BlackHole, OTLPReceiver
from tests.reliability.helpers import closed_port


async def turns(engine: Engine, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        async with aclosing(engine.run_turn(f"hello there, turn {i}", [])) as events:
            async for _ in events:
                pass
        out.append(time.perf_counter() - start)
    return out


async def main_async(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        os.environ["ROUTEDECK_HOME"] = str(tmp)
        server = stack.enter_context(LoopbackServer())
        server.reply = "one two three four five six seven eight nine ten"
        hole = stack.enter_context(BlackHole())
        receiver = stack.enter_context(OTLPReceiver())
        endpoints = {"off": None, "collector down": f"http://127.0.0.1:{closed_port()}",
                     "collector hung": hole.endpoint, "collector up": receiver.endpoint}
        setups = {}
        for name, endpoint in endpoints.items():
            cfg = tmp / f"{name.replace(' ', '-')}.toml"
            extra = (f'\n[telemetry]\notlp_endpoint = "{endpoint}"\nbatch_delay_s = 0.2\n'
                     if endpoint else "")
            cfg.write_text(config_toml(server.base_url, cache=False, extra=extra),
                           encoding="utf-8")
            settings = load_settings(cfg)
            store = stack.enter_context(SQLiteStore.open(tmp / f"{name}.db"))
            recorder = instrument(store, settings, on_notice=lambda text: None)
            setups[name] = (Engine(settings, recorder=recorder), recorder)
        samples: dict[str, list[float]] = {name: [] for name in setups}
        for engine, _ in setups.values():
            await turns(engine, 3)  # warm-up: SDK clients, tokenizer, first export attempt
        names = list(setups)
        for r in range(args.rounds):
            # Interleaved, each round in a rotated order: load and warm-up hit all alike.
            for name in names[r % len(names):] + names[:r % len(names)]:
                samples[name] += await turns(setups[name][0], args.turns)
        closing = {}
        for name, (engine, recorder) in setups.items():
            await engine.aclose()
            start = time.perf_counter()
            notice = shutdown(recorder)
            closing[name] = (time.perf_counter() - start, notice)
    base = statistics.median(samples["off"])
    print(f"turn time, median of {args.rounds} rounds x {args.turns} turns "
          f"(loopback model server, SQLite ledger):")
    for name, times in samples.items():
        med = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        close_s, notice = closing[name]
        print(f"  {name:<15} median {med * 1000:7.2f} ms  p90 {p90 * 1000:7.2f} ms  "
              f"ratio {med / base:5.2f}  close {close_s:5.2f} s"
              f"{'  (one notice)' if notice else ''}")
    print(f"spans received by the live collector: {len(receiver.spans)}")
    down = statistics.median(samples["collector down"]) / base
    hung = statistics.median(samples["collector hung"]) / base
    print(f"collector down / off = {down:.2f}, hung / off = {hung:.2f} "
          "(1.00 = no slower; noise on a shared 2-core machine is about +-10%)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=20, help="turns per round and setup")
    ap.add_argument("--rounds", type=int, default=8)
    return asyncio.run(main_async(ap.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
