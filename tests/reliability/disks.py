"""Real broken storage for the reliability suite, and a way to measure a real process.

* :func:`tiny_fs` mounts a small tmpfs (a full disk is one write away), :func:`read_only`
  turns a directory into a read-only mount, :func:`immutable` sets ``chattr +i``. These need
  root, which CI has; elsewhere they fail with that explanation (never skip).
* :func:`write_lock` holds a SQLite file's write lock from another connection, as a second
  program would.
* :func:`damage` overwrites a database's data pages while keeping its header, so the file
  opens and then fails on the first read of a damaged page.
* :func:`measured` runs ``routedeck`` as a child process and reports its wall time, its peak
  memory and its output. The peak is the program's own high-water mark (``VmHWM`` of
  /proc, written by the child as it exits, and sampled while it runs): ``wait4``'s maxrss
  would include the test process the child was forked from.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root (CI runs as root): it uses a real mount or chattr, "
                    "so the fault is the kernel's, not a mock", pytrace=False)


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@contextlib.contextmanager
def tiny_fs(path: Path, size_kib: int = 2048) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` KiB mounted at ``path`` for the block."""
    _need_root("a full disk")
    path.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(fs: Path) -> None:
    """Write to ``fs`` until it is full (ENOSPC), leaving no byte free."""
    for name, block in (("filler", 4096), ("filler-tail", 1)):
        with open(fs / name, "wb", buffering=0) as fh, contextlib.suppress(OSError):
            while fh.write(b"\0" * block):
                pass


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a directory) as a read-only mount for the block: even root cannot write."""
    _need_root("a read-only disk")
    _run("mount", "--bind", str(path), str(path))
    try:
        _run("mount", "-o", "remount,bind,ro", str(path))
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """``chattr +i`` on ``path`` for the block: no one may write, rename or delete it."""
    _need_root("an immutable file")
    _run("chattr", "+i", str(path))
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


@contextlib.contextmanager
def write_lock(db: Path, release_when: Callable[[], bool] | None = None
               ) -> Iterator[sqlite3.Connection]:
    """Another connection holding ``db``'s write lock (BEGIN EXCLUSIVE) for the block, or
    until ``release_when()`` becomes true (checked every 10 ms)."""
    conn = sqlite3.connect(db, timeout=5, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    done = threading.Event()

    def release() -> None:
        while not done.wait(0.01):
            if release_when is not None and release_when():
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                return

    watcher = threading.Thread(target=release, daemon=True) if release_when else None
    if watcher is not None:
        watcher.start()
    try:
        yield conn
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        conn.close()


def when(condition: Callable[[], bool], action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` once ``condition()`` holds (checked every 10 ms), in a thread."""

    def wait() -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def damage(db: Path) -> None:
    """Checkpoint ``db`` into its main file, then overwrite every page after the first two
    (the header and the schema stay readable, every table's pages are garbage)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(2 * page)
        fh.write(bytes((i * 151 + 7) % 256 for i in range(size - 2 * page)))
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()


@dataclass
class Run:
    wall_s: float
    peak_mb: float
    code: int
    stdout: str
    stderr: str


_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                with open(os.environ["RD_PEAK_FILE"], "w") as out:
                    out.write(line.split()[1])
atexit.register(_peak)
sys.argv = ["routedeck", *sys.argv[1:]]
runpy.run_module("app", run_name="__main__")
"""


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measured(args: list[str], home: Path, timeout: float = 60.0,
             env: dict[str, str] | None = None) -> Run:
    """``routedeck ARGS`` in a child process with ROUTEDECK_HOME=home; its wall time, its
    peak resident memory, exit code and output."""
    peak_file = home.parent / f".peak-{os.getpid()}-{time.monotonic_ns()}"
    full = {**os.environ, "ROUTEDECK_HOME": str(home), "RD_PEAK_FILE": str(peak_file),
            **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, *args], cwd=ROOT, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda: out.append(proc.stdout.read())),  # type: ignore[union-attr]
               threading.Thread(target=lambda: err.append(proc.stderr.read()))]  # type: ignore[union-attr]
    for t in readers:
        t.start()
    sampled = 0
    try:
        proc.wait(timeout=0)
    except subprocess.TimeoutExpired:
        pass
    while proc.poll() is None:
        sampled = max(sampled, _hwm_kib(proc.pid))
        if time.monotonic() - start > timeout:
            proc.kill()
            proc.wait()
            break
        time.sleep(0.02)
    wall = time.monotonic() - start
    for t in readers:
        t.join()
    try:
        reported = int(peak_file.read_text())
        peak_file.unlink()
    except (OSError, ValueError):
        reported = 0
    return Run(wall, max(sampled, reported) / 1024, proc.returncode,
               out[0].decode("utf-8", "replace"), err[0].decode("utf-8", "replace"))
