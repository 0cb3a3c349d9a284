"""The compiled build of the routing modules (setup.py) decides exactly as their source does,
and a build that no longer matches its source is never imported (app/core/routing/compiled.py)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

from app.core.routing import compiled

ROOT = Path(__file__).resolve().parents[1]

# Routes every prompt of the repo's labelled sets (and a few odd ones), alone, as a follow-up
# and with a verdict memory, and prints each decision as JSON (floats exactly, via repr).
DECIDE = r"""
import json, sys
from pathlib import Path
from app.core.config.settings import Settings
from app.core.routing import classify, compiled, policy
from app.core.routing.memory import Memory
root = Path(sys.argv[1])
prompts = ["", " ", "hi", "Thanks!", "日本語のテキスト", "x = 2^3 ≤ 9", "a. one\nB) two",
           "```py\ndef f(): return 1\n```", "word " * 2000, "Prove it. " * 300]
for name, col in (("everyday.tsv", 4), ("everyday_blind.tsv", 4), ("task_examples.tsv", 1)):
    for line in (root / "training" / "data" / name).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if not line.startswith("#") and len(parts) > col:
            prompts.append(parts[col].replace("\\n", "\n"))
settings = Settings()
memory = Memory((p, ("cheap_enough", "premium_better", "tie")[i % 3])
                for i, p in enumerate(prompts[::7]))
print(compiled.summary())
history = None
for i, p in enumerate(prompts):
    for kw in ({}, {"history": history}, {"memory": memory}):
        d = policy.route(p, settings, **kw).to_dict()
        d.pop("decision_us")
        c = classify.classify(p, kw.get("history"), memory=kw.get("memory"))
        print(json.dumps([d, list(c.task_probs), c.score], sort_keys=True, default=str))
    history = [{"role": "user", "content": p}, {"role": "assistant", "content": "ok"}]
"""


def _decide(pure: bool, seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop(compiled.PURE_ENV, None)
    if pure:
        env[compiled.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", DECIDE, str(ROOT)], capture_output=True,
                         text=True, cwd=ROOT, env=env, check=True, timeout=300)
    return out.stdout.splitlines()


def test_the_build_and_the_source_make_the_same_decisions():
    """Where the package was installed with a C compiler (as CI installs it) this compares
    the compiled modules with their source; without a build, the source with itself. Either
    way under two hash seeds, so no decision depends on a set's order."""
    built, source = _decide(pure=False, seed="1"), _decide(pure=True, seed="2")
    assert source[0].startswith("routing modules: run from source"), source[0]
    if compiled.built_hashes():
        assert built[0] == f"routing modules: {len(compiled.built_hashes())} of " \
            f"{len(compiled.built_hashes())} compiled", (
                f"{built[0]}: reinstall (pip install -e .) to compile the edited modules")
    assert len(built) == len(source) > 5000
    for a, b in zip(built[1:], source[1:], strict=True):
        assert a == b


def _package(tmp_path: Path, built_from: str) -> tuple[Path, dict[str, str]]:
    pkg = tmp_path / "guarded_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("WHERE = 'source'\n")
    return pkg, {"mod": hashlib.sha256(built_from.encode()).hexdigest()}


def test_a_build_of_an_older_source_is_not_imported(tmp_path, monkeypatch):
    pkg, built = _package(tmp_path, "WHERE = 'an older source'\n")
    finder = compiled.SourceWhenStale("guarded_pkg", pkg, built, pure=False)
    spec = finder.find_spec("guarded_pkg.mod")
    assert spec is not None and spec.origin == str(pkg / "mod.py")
    assert "edited since the build" in finder.verdict("mod")
    # Through the real import system, in front of a build that would otherwise win.
    (pkg / f"mod{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"not a library")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    try:
        assert importlib.import_module("guarded_pkg.mod").WHERE == "source"
    finally:
        for name in ("guarded_pkg.mod", "guarded_pkg"):
            sys.modules.pop(name, None)


def test_a_matching_build_is_left_to_python_and_pure_overrides_it(tmp_path):
    pkg, built = _package(tmp_path, "WHERE = 'source'\n")
    assert compiled.SourceWhenStale("guarded_pkg", pkg, built, pure=False).find_spec(
        "guarded_pkg.mod") is None
    pure = compiled.SourceWhenStale("guarded_pkg", pkg, built, pure=True)
    assert pure.find_spec("guarded_pkg.mod").origin == str(pkg / "mod.py")
    assert compiled.PURE_ENV in pure.verdict("mod")
    # Modules the build did not compile, and other packages, are not its business.
    assert pure.find_spec("guarded_pkg.other") is None
    assert pure.find_spec("elsewhere.mod") is None


def test_a_build_the_record_does_not_list_is_not_imported(tmp_path):
    """An install whose compile of a module failed may leave an older build of it behind."""
    pkg, _ = _package(tmp_path, "WHERE = 'source'\n")
    finder = compiled.SourceWhenStale("guarded_pkg", pkg, {}, pure=False)
    assert finder.find_spec("guarded_pkg.mod") is None  # no build at all: the normal import
    (pkg / f"mod{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"not a library")
    assert finder.find_spec("guarded_pkg.mod").origin == str(pkg / "mod.py")
    assert "not recorded" in finder.why["mod"]


def test_a_missing_or_broken_build_record_means_no_build(tmp_path):
    assert compiled.built_hashes(tmp_path) == {}
    (tmp_path / compiled.BUILT_FILE).write_text("{not json")
    assert compiled.built_hashes(tmp_path) == {}
    (tmp_path / compiled.BUILT_FILE).write_text(json.dumps({"features": "ab", "x": 3}))
    assert compiled.built_hashes(tmp_path) == {"features": "ab"}


def test_modules_reported_compiled_are_the_builds():
    for name in compiled.built_hashes():
        importlib.import_module(f"{compiled.PACKAGE}.{name}")
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name, why in compiled.status().items():
        path = sys.modules[f"{compiled.PACKAGE}.{name}"].__file__
        assert path.endswith(suffixes) == (why == "compiled"), (name, why, path)


def test_version_says_how_the_router_runs():
    from app import __version__

    def version(pure: bool) -> list[str]:
        env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
        if pure:
            env[compiled.PURE_ENV] = "1"
        return subprocess.run([sys.executable, "-c", "from app.cli import main; main()",
                               "--version"], capture_output=True, text=True, cwd=ROOT, env=env,
                              check=True, timeout=60).stdout.splitlines()

    why = f"{compiled.PURE_ENV} is set" if compiled.built_hashes() else "no compiled build installed"
    assert version(pure=True) == [f"routedeck, version {__version__}",
                                  f"routing modules: run from source ({why})"]
    assert version(pure=False) == [f"routedeck, version {__version__}", compiled.summary()]
