"""The architecture's written rules (docs/ARCHITECTURE.md), checked on every run."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600


def test_import_contracts_hold():
    """The core imports no face, the faces do not import each other, the core's rooms import
    only the rooms below them, and nothing in app/ imports in a cycle (pyproject.toml)."""
    from importlinter.cli import lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml and imports app from here
    try:
        assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
    finally:
        os.chdir(cwd)


def test_modules_stay_small():
    # The test helpers, benchmarks and the trainer are code people read too.
    files = [p for room in ("app", "tests", "benchmarks", "training")
             for p in (ROOT / room).rglob("*.py") if ".venv" not in p.parts]
    big = {str(p.relative_to(ROOT)): n for p in files
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert big == {}, f"split these by responsibility: {big}"


def test_console_first_frame_does_not_wait_for_the_sdk():
    """The openai SDK takes ~0.5 s to import; the console loads it in the background after its
    first frame (DESIGN.md: first frame <= 1 s). An eager import anywhere on the start path
    (here: a dataclass imported from the engine module) doubled start-up once."""
    import subprocess
    import sys

    probe = (
        "import sys, app.cli, app.tui.run, app.tui.app, app.core.conversation.session\n"
        "heavy = [m for m in ('openai', 'httpx', 'tiktoken', 'psycopg', 'opentelemetry.sdk')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDECK_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, check=True, timeout=60)
    assert done.stdout.strip() == "", f"imported before the first frame: {done.stdout.strip()}"
