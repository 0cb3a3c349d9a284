"""Process wall time of whole commands, start-up included (prints figures).

    .venv/bin/python benchmarks/bench_audit.py [--data train.jsonl] [--runs 3]

Budgets (DESIGN.md): `routedeck audit train.jsonl --json > /dev/null` <= 5 s;
`routedeck route "hi"` <= 0.5 s. Each command runs in a fresh process with ROUTEDECK_HOME
pointed at a temp dir so no user state is read or written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "routing" / "train.jsonl"


def wall(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        out.append(time.perf_counter() - t)
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    exe = [sys.executable, "-m", "app"]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ROUTEDECK_HOME": home}
        env.pop("ROUTEDECK_CONFIG", None)
        cases = [
            ("route \"hi\"", [*exe, "route", "hi"], 0.5),
            ("route \"hi\" --strategy rules", [*exe, "route", "hi", "--strategy", "rules"], 0.5),
            (f"audit {args.data.name} --json", [*exe, "audit", str(args.data), "--json"], 5.0),
            (f"audit {args.data.name} (table)", [*exe, "audit", str(args.data)], 5.0),
        ]
        for label, cmd, budget in cases:
            times = wall(cmd, env, args.runs)
            med = statistics.median(times)
            print(f"{label:<36} median {med:6.2f} s  min {min(times):6.2f} s  "
                  f"(budget {budget:.1f} s) {'OK' if med <= budget else 'OVER'}")


if __name__ == "__main__":
    main()
