"""SIGTERM and SIGHUP to a running console, in a real pseudo-terminal.

The console runs as a child on a pty, as in a terminal emulator; once it has drawn its
first screen it gets the signal. Every byte it wrote to the terminal is kept: after the
signal it must have switched the alternate screen off, turned mouse reporting off and shown
the cursor again (what a terminal needs to be usable), and exited with 128 + the signal.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"
RESTORE = {
    "alternate screen off": ALT_OFF,
    "mouse reporting off": b"\x1b[?1000l",
    "any-motion mouse off": b"\x1b[?1003l",
    "SGR mouse off": b"\x1b[?1006l",
    "cursor shown": b"\x1b[?25h",
}


def _read(fd: int, buf: bytearray, until: float, done=None) -> bool:
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not data:
            return False
        buf += data
        if done is not None and done(buf):
            return True
    return False


def drawn(buf: bytearray) -> bool:
    """The console entered the alternate screen and drew a full first frame."""
    at = buf.rfind(ALT_ON)
    return at >= 0 and b"RouteDeck" in buf[at:] and len(buf) - at > 2000


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_console_restores_the_terminal(signame, tmp_path):
    env = {**os.environ, "ROUTEDECK_HOME": str(tmp_path / "home"), "TERM": "xterm-256color",
           "COLUMNS": "120", "LINES": "40"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on the pty
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "app"], env)
    buf = bytearray()
    try:
        assert _read(fd, buf, time.monotonic() + 30, drawn), \
            f"the console did not draw: {bytes(buf[-300:])!r}"
        _read(fd, buf, time.monotonic() + 0.3)  # let it settle: mouse mode, first refreshes
        before = len(buf)
        os.kill(pid, getattr(signal, signame))
        _read(fd, buf, time.monotonic() + 15)
        _, status = os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)
    after = bytes(buf[before:])
    missing = [name for name, seq in RESTORE.items() if seq not in after]
    assert missing == [], f"after {signame} the terminal was left without: {missing}"
    assert after.rfind(ALT_OFF) > after.rfind(ALT_ON)  # it ends outside the alternate screen
    assert b"Traceback" not in bytes(buf)
    assert os.waitstatus_to_exitcode(status) == 128 + getattr(signal, signame)


def test_a_served_console_ends_when_its_server_does(tmp_path):
    """`routedeck serve` runs each tab's console over pipes with Textual's web driver. A
    server that is killed or stopped once left its consoles running on, orphaned, with the
    ledger open; now each one ends within seconds of its parent."""
    import subprocess

    env = {**os.environ, "ROUTEDECK_HOME": str(tmp_path / "home"),
           "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "COLUMNS": "100",
           "ROWS": "30"}
    env.pop("ROUTEDECK_CONFIG", None)
    server = (  # stands in for the server: starts the console, then dies without a word
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([{sys.executable!r}, '-m', 'app'], stdin=subprocess.PIPE, "
        f"stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd={str(ROOT)!r})\n"
        "print(p.pid, flush=True)\n"
        "p.stdout.readline()\n"  # the web driver's first line: the console starts
        "p.stdout.read(8192)\n"  # its first frame: it is up and waiting for input
        "time.sleep(1)\n"
        "os._exit(0)\n")
    parent = subprocess.Popen([sys.executable, "-c", server], stdout=subprocess.PIPE, env=env)
    console = int(parent.stdout.readline())
    parent.wait(timeout=60)
    deadline = time.monotonic() + 10
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            with open(f"/proc/{console}/stat") as f:
                alive = f.read().split()[2] != "Z"
        except FileNotFoundError:
            alive = False
        time.sleep(0.2)
    if alive:
        os.kill(console, signal.SIGKILL)
    assert not alive, "the console outlived its server"
