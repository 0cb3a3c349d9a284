"""Console long session: 500 turns through the app, then RSS and frame/scroll times.

Budgets (DESIGN.md): RSS <= 250 MB; scrolling stays smooth (we report the time of one
page-up/page-down frame; <= 50 ms reads as smooth).

Each turn is a real turn through ConsoleSession, the SQLite store and the ledger, with the
scripted engine from tests/tui/helpers.py standing in for the network (a ~150-word Markdown
answer with a code block, streamed as word deltas). The chat keeps [ui] max_mounted_turns
turns mounted; the history and the ledger keep all 500.

    .venv/bin/python benchmarks/bench_tui_session.py [--turns 500]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RSS_BUDGET_MB = 250.0
FRAME_BUDGET_S = 0.050

ANSWER = ("Here is the short version.\n\n" + " ".join(f"word{i}" for i in range(120))
          + "\n\n```python\ndef answer(x):\n    return x * 2\n```\n\n- one\n- two\n- three\n")


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def press(app, key: str) -> None:
    """Deliver a key the way the terminal driver does (Pilot.press would also wait for the
    whole app to go idle, which measures Pilot, not the console)."""
    from textual import events

    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)


async def next_frame(app) -> None:
    """Wait until the next screen refresh has been composed and rendered."""
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


async def wait_turn(pilot, app, n: int) -> None:
    while len(app.session.conversation) < n or app.running or any(
            w.group == "answer-stream" and w.is_running for w in app.workers):
        await asyncio.sleep(0.001)


async def run(turns: int) -> dict[str, float]:
    from app.core.config.loader import load_settings
    from app.tui.widgets.chat import ChatView
    from app.tui.widgets.prompt import PromptInput
    from tests.tui.helpers import ScriptedEngine, Step, make_app

    ScriptedEngine.script = [Step(ANSWER, input_tokens=200 + i, output_tokens=180)
                             for i in range(turns)]
    app = make_app(load_settings(None), engine_factory=ScriptedEngine)
    turn_times: list[float] = []
    rss_start = rss_mb()
    async with app.run_test(size=(160, 45)) as pilot:
        prompt = app.query_one(PromptInput)
        for i in range(turns):
            t = time.perf_counter()
            prompt.text = f"question {i}: explain item {i} briefly"
            press(app, "enter")
            await wait_turn(pilot, app, i + 1)
            turn_times.append(time.perf_counter() - t)
            if (i + 1) % 50 == 0:
                print(f"  turn {i + 1}: RSS {rss_mb():.0f} MB, last 50 turns "
                      f"{statistics.mean(turn_times[-50:]) * 1000:.0f} ms/turn", flush=True)
        await pilot.pause()
        chat = app.query_one(ChatView)
        frames = []
        moves = [chat.scroll_page_up] * 10 + [chat.scroll_page_down] * 10
        moves += [chat.scroll_home, chat.scroll_end] * 3
        for move in moves:
            t = time.perf_counter()
            move(animate=False)
            await next_frame(app)  # the scrolled frame has been laid out and rendered
            frames.append(time.perf_counter() - t)
        mounted = chat.mounted_turns
        history = len(app.session.conversation.history()) // 2
        ledger_turns = app.session.ledger().turns
        rss_end = rss_mb()
    return {
        "turn_p50": statistics.median(turn_times),
        "turn_first10": statistics.mean(turn_times[:10]),
        "turn_last10": statistics.mean(turn_times[-10:]),
        "frame_p50": statistics.median(frames),
        "frame_max": max(frames),
        "rss_start": rss_start,
        "rss_end": rss_end,
        "mounted": float(mounted),
        "history": float(history),
        "ledger_turns": float(ledger_turns),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's collector thresholds (the console tunes them)")
    args = parser.parse_args()
    os.environ["ROUTEDECK_HOME"] = tempfile.mkdtemp(prefix="rd-bench-")
    os.environ.pop("OPENAI_API_KEY", None)
    t = time.perf_counter()
    if not args.default_gc:
        from app.tui.run import tune_collector

        tune_collector()  # as run_console does
    r = asyncio.run(run(args.turns))
    ms = 1000
    print(f"{args.turns} turns in {time.perf_counter() - t:.1f} s: history {r['history']:.0f} turns, "
          f"ledger {r['ledger_turns']:.0f} turns, {r['mounted']:.0f} turns mounted")
    print(f"turn (send -> answer rendered)  p50 {r['turn_p50'] * ms:.0f} ms  "
          f"first 10 {r['turn_first10'] * ms:.0f} ms  last 10 {r['turn_last10'] * ms:.0f} ms")
    print(f"scroll frame  p50 {r['frame_p50'] * ms:.1f} ms  max {r['frame_max'] * ms:.1f} ms  "
          f"(budget {FRAME_BUDGET_S * ms:.0f} ms)")
    print(f"RSS  {r['rss_start']:.0f} MB at start -> {r['rss_end']:.0f} MB after {args.turns} turns "
          f"(budget {RSS_BUDGET_MB:.0f} MB)")
    ok = r["rss_end"] <= RSS_BUDGET_MB and r["frame_p50"] <= FRAME_BUDGET_S
    print("PASS" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
