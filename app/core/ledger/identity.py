"""Who writes a ledger row and from where.

Every row a store writes carries the user and host of the process that wrote it, so one
team ledger can be split by person and machine (``routedeck report --by user|host``).
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    user: str
    host: str

    @classmethod
    def current(cls, user: str | None = None, host: str | None = None) -> Identity:
        """This process's identity; ``user``/``host`` override it (``[store] user/host``)."""
        return cls(user or _login(), host or socket.gethostname() or "unknown-host")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry (some containers): the numeric uid still tells writers apart.
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown-user"


def new_uid() -> str:
    return uuid.uuid4().hex
