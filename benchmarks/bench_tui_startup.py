"""Console start-up: wall time from spawning ``routedeck`` to its first frame on a terminal.

Budget (DESIGN.md): <= 1.0 s. The console runs in a real pseudo-terminal (160x45), offline,
with a fresh ROUTEDECK_HOME; the first frame is the first time the screen bytes contain the
header line and the decision panel. Each run then quits with Ctrl+Q.

    .venv/bin/python benchmarks/bench_tui_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 1.0
ROOT = Path(__file__).resolve().parents[1]


def routedeck_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("routedeck")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


def first_frame(timeout: float = 10.0) -> float:
    home = tempfile.mkdtemp(prefix="rd-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTEDECK_", "OPENAI_"))}
    env.update(ROUTEDECK_HOME=home, TERM="xterm-256color", COLUMNS="160", LINES="45")
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child: become routedeck on the pty
        os.chdir(ROOT)
        cmd = routedeck_cmd()
        os.execve(cmd[0], cmd, env)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    seen = b""
    elapsed = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            seen += chunk
            if b"RouteDeck" in seen and b"Decision" in seen:
                elapsed = time.perf_counter() - start
                break
        os.write(fd, b"\x11")  # Ctrl+Q
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    os.read(fd, 65536)
                except OSError:
                    pass
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    finally:
        os.close(fd)
        shutil.rmtree(home, ignore_errors=True)
    if elapsed is None:
        raise RuntimeError("the console did not draw its first frame in time")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    first_frame()  # warm the OS file cache and bytecode caches, as a second launch would be
    times = [first_frame() for _ in range(args.runs)]
    med, worst = statistics.median(times), max(times)
    print(f"start to first frame: median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms "
          f"over {args.runs} runs (budget {BUDGET_S * 1000:.0f} ms)")
    ok = med <= BUDGET_S
    print("PASS" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
