"""Build step: the router's hot modules are compiled with Cython when a C compiler is there.

Everything else about the package is in pyproject.toml. The modules in HOT are compiled from
their unchanged source (Python semantics: no annotation typing, no C division): a routing
decision then takes about a quarter less time. Each is an optional extension, so a machine
without a C compiler (or with ROUTEDECK_NO_COMPILE=1) installs the same package and runs
it from source. The build writes BUILT_FILE beside the compiled modules: the hash of each
source it compiled, so app.core.routing.compiled can tell a build from a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PACKAGE = "app.core.routing"
SOURCE_DIR = Path(__file__).resolve().parent / "app" / "core" / "routing"
HOT = ("classify", "demands", "features", "followup", "labels", "learned", "lookup", "memory",
       "neighbours", "policy", "tasks", "tasktype", "vocab")
BUILT_FILE = "compiled.json"  # read by app/core/routing/compiled.py


SOURCE_HASHES: dict[str, str] = {}  # module -> hash of the source that was translated


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _extensions() -> list[Extension]:
    if os.environ.get("ROUTEDECK_NO_COMPILE"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:  # an install without build isolation and without Cython
        return []
    # No debug information: a third of the compile time and most of the size.
    flags = ["-g0"] if os.name == "posix" else []
    mods = [Extension(f"{PACKAGE}.{name}", [f"app/core/routing/{name}.py"],
                      extra_compile_args=flags) for name in HOT]
    # The hashes of the sources as they are translated (an edit during the install must not
    # be recorded as built). force: C files left in build/ by an earlier install are never
    # reused, whatever the sources' timestamps say (cythonize alone goes by timestamps).
    SOURCE_HASHES.update({name: _hash(SOURCE_DIR / f"{name}.py") for name in HOT})
    out = cythonize(mods, quiet=True, build_dir="build/cython", force=True, compiler_directives={
        "language_level": 3, "annotation_typing": False, "binding": True})
    for ext in out:
        ext.optional = True  # (cythonize drops it): a failed compile leaves the source in use
    return out


class BuildExt(build_ext):
    """build_ext that records which modules it built, and from which source."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:  # one compiler per core: the install waits on this step
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        start = time.time()
        super().run()
        built = {}
        out_dir = None
        for ext in self.extensions:
            name = ext.name.rpartition(".")[2]
            # (beside the source for an editable install, in the build tree for a wheel)
            out = Path(self.get_ext_fullpath(ext.name))
            # Built by this run (a failed compile can leave an older build in place).
            if out.exists() and out.stat().st_mtime >= start - 2:
                out_dir = out.parent
                built[name] = SOURCE_HASHES[name]
        if out_dir is not None:
            (out_dir / BUILT_FILE).write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
