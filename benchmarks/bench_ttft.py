"""Time to first token through the engine vs a raw AsyncOpenAI streaming call.

Both go to the loopback OpenAI-compatible server (tests/loopback_server.py) on 127.0.0.1, warm
(clients created, connections open), interleaved run by run so drift hits both equally. The
engine run includes everything a real turn does before the first token: classify + route,
the cache lookup (a miss: every prompt is unique), event plumbing. Budget: the engine adds
<= 10 ms at the median.

    .venv/bin/python benchmarks/bench_ttft.py [--runs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_MS = 10.0


async def raw_ttft(client, model: str, prompt: str) -> float:
    start = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True,
        stream_options={"include_usage": True})
    async for chunk in stream:  # drained fully so the connection is reused, as the engine does
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    assert first is not None
    return first


async def engine_ttft(engine, prompt: str) -> float:
    from app.core.calling.events import TextDelta, TurnFinished

    start = time.perf_counter()
    first = None
    async for ev in engine.run_turn(prompt, [], tier=None):
        if first is None and isinstance(ev, TextDelta):
            first = time.perf_counter() - start
        if isinstance(ev, TurnFinished):
            assert ev.status == "ok", ev.message
    assert first is not None
    return first


async def main(runs: int) -> int:
    import openai

    from app.core.calling.cache import ResponseCache
    from app.core.calling.engine import Engine
    from app.core.config.loader import load_settings
    from tests.loopback_server import LoopbackServer, config_toml

    with tempfile.TemporaryDirectory() as home, LoopbackServer() as server:
        os.environ["ROUTEDECK_HOME"] = home
        cfg = Path(home) / "bench.toml"
        cfg.write_text(config_toml(server.base_url, first_token_timeout_s=10), encoding="utf-8")
        settings = load_settings(cfg)
        cache = ResponseCache(settings.cache)
        engine = Engine(settings, cache=cache)
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        model = settings.cheapest.model
        prompt = "hello there, how are you today? run {}"
        for i in range(20):  # warm-up: clients, connections, tiktoken, the classifier
            await raw_ttft(client, model, prompt.format(f"w{i}"))
            await engine_ttft(engine, prompt.format(f"w{i}"))
        raw, eng = [], []
        for i in range(runs):
            raw.append(await raw_ttft(client, model, prompt.format(i)))
            eng.append(await engine_ttft(engine, prompt.format(i)))
        await client.close()
        await engine.aclose()
        cache.close()

    def ms(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[int(q) - 1] * 1000 if q < 100 else max(xs) * 1000

    raw_med, eng_med = statistics.median(raw) * 1000, statistics.median(eng) * 1000
    added = eng_med - raw_med
    print(f"runs: {runs} each, loopback server, prompt routed to the cheap tier")
    print(f"raw AsyncOpenAI  TTFT median {raw_med:7.3f} ms   p90 {ms(raw, 90):7.3f} ms")
    print(f"engine           TTFT median {eng_med:7.3f} ms   p90 {ms(eng, 90):7.3f} ms")
    verdict = "within" if added <= BUDGET_MS else "OVER"
    print(f"added by engine  {added:+7.3f} ms (median)  -> {verdict} the {BUDGET_MS:g} ms budget")
    return 0 if added <= BUDGET_MS else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    sys.exit(asyncio.run(main(ap.parse_args().runs)))
