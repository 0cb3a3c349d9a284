"""Which stored sessions a console on this machine has open, so another command can say so.

A console shows and sends only the turns it made: a turn that ``routedeck ask -c`` adds to
the same session stays out of that console's chat and history. The console marks the
session it has open (an empty file ``<data dir>/open/<session>-<pid>``); ``ask`` reads the
marks before it adds a turn and warns. A mark whose process is gone (a crash) is stale and
removed when read. Any file error only means no warning: this is a courtesy, never a lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from app.core.config import paths


def _dir() -> Path:
    return paths.data_dir() / "open"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else (EPERM)
        return True
    return True


def hold(session_id: int | None) -> None:
    """This process now has ``session_id`` open (None: no session); earlier marks go."""
    pid = os.getpid()
    with contextlib.suppress(OSError):
        for old in _dir().glob(f"*-{pid}"):
            old.unlink(missing_ok=True)
        if session_id is not None:
            _dir().mkdir(parents=True, exist_ok=True)
            (_dir() / f"{int(session_id)}-{pid}").touch()


def release() -> None:
    hold(None)


def holder(session_id: int) -> int | None:
    """The pid of another live process that has ``session_id`` open, if any."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for mark in _dir().glob(f"{int(session_id)}-*"):
            try:
                pid = int(mark.name.rsplit("-", 1)[1])
            except ValueError:
                continue
            if pid == me:
                continue
            if _alive(pid):
                return pid
            mark.unlink(missing_ok=True)
    return None
