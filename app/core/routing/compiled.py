"""Which routing modules run compiled, and the guard that keeps a stale build out.

setup.py compiles the hot modules with Cython at install time when a C compiler is there
(the same source; a decision takes about a quarter less time) and records, in BUILT_FILE
beside them, the hash of each source it compiled. Python would import a compiled module in
preference to its source, even after the source was edited; the finder installed here lets
it do so only while the source still has the recorded hash, and otherwise imports the
source. A module without a build, or every module with ROUTEDECK_PURE_PYTHON=1 set, runs
from source as before: the two give the same decisions (tests/test_compiled.py).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

PACKAGE = __name__.rpartition(".")[0]
DIRECTORY = Path(__file__).resolve().parent
BUILT_FILE = "compiled.json"  # written by setup.py's build_ext
PURE_ENV = "ROUTEDECK_PURE_PYTHON"


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built_hashes(directory: Path = DIRECTORY) -> dict[str, str]:
    """module -> hash of the source it was compiled from ({} with no build, or a bad file)."""
    try:
        data = json.loads((directory / BUILT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


class SourceWhenStale:
    """A meta path finder for one package's modules: a module whose compiled build does not
    match its source (or every module, when ``pure``) is imported from the source; any other
    import is left to the normal machinery (which prefers the build)."""

    def __init__(self, package: str, directory: Path, built: dict[str, str], pure: bool):
        self.package, self.directory, self.built, self.pure = package, directory, built, pure
        self.why: dict[str, str] = {}  # module -> "compiled" or why it runs from source

    def verdict(self, name: str) -> str:
        """"compiled", or why the module runs from its source."""
        why = self.why.get(name)
        if why is None:
            source = self.directory / f"{name}.py"
            if self.pure:
                why = f"source ({PURE_ENV} is set)"
            elif not source.exists() or source_hash(source) != self.built[name]:
                why = "source (edited since the build: reinstall to compile it)"
            else:
                why = "compiled"
            self.why[name] = why
        return why

    def find_spec(self, fullname: str, path=None, target=None):
        head, _, name = fullname.rpartition(".")
        if head != self.package:
            return None
        if name not in self.built:
            # A build the record does not list (left by an install whose compile of it
            # failed) is not trusted either.
            if not any((self.directory / f"{name}{suffix}").exists()
                       for suffix in importlib.machinery.EXTENSION_SUFFIXES):
                return None
            self.why[name] = "source (a build not recorded as made from it)"
        elif self.verdict(name) == "compiled":
            return None
        source = self.directory / f"{name}.py"
        return importlib.util.spec_from_file_location(fullname, source) if source.exists() else None


FINDER: SourceWhenStale | None = None


def install() -> None:
    """Put the finder in front of the import system (once, before any module it guards)."""
    global FINDER
    if FINDER is not None:
        return
    built = built_hashes()
    FINDER = SourceWhenStale(PACKAGE, DIRECTORY, built, bool(os.environ.get(PURE_ENV)))
    sys.meta_path.insert(0, FINDER)


def status() -> dict[str, str]:
    """module -> "compiled", or how it runs and why, for every module the build compiled
    (and any module run from source because of a build the record does not list)."""
    if FINDER is None:
        return {}
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    out = {}
    for name in sorted({*FINDER.built, *FINDER.why}):
        why = FINDER.verdict(name) if name in FINDER.built else FINDER.why[name]
        mod = sys.modules.get(f"{PACKAGE}.{name}")
        if why == "compiled" and mod is not None and not str(
                getattr(mod, "__file__", "")).endswith(suffixes):
            why = "source (no build for this Python)"
        out[name] = why
    return out


def summary() -> str:
    """One line for the benchmarks and `routedeck --version`."""
    st = status()
    if not st:
        return "routing modules: run from source (no compiled build installed)"
    n = sum(v == "compiled" for v in st.values())
    other = ", ".join(sorted({v.removeprefix("source ") for v in st.values() if v != "compiled"}))
    if not n:
        return f"routing modules: run from source {other}"
    return f"routing modules: {n} of {len(st)} compiled" + (
        f"; the rest from source {other}" if other else "")
