"""Files the commands write (exports, HTML pages): atomically, and never over the ledger.

A file is written to a temporary name in its directory and renamed over the target only
once complete, so a full disk or a crash leaves the old file (or none), never half of one.
The ledger's own database (and its -wal/-shm/-journal companions) is never a target, even
with ``--force``: writing there would destroy the rows being exported. An existing file is
replaced only when the caller allows it (``export --force``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import click

_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_target(target: Path, protect: Sequence[Path], *, force: bool) -> None:
    """Refuse (click error, exit 1) a target that is the ledger, a directory, or an existing
    file without ``force``."""
    for db in protect:
        for suffix in _COMPANIONS:
            if _same(target, Path(f"{db}{suffix}")):
                raise click.ClickException(
                    f"{target} is the ledger's own database ({db}); writing there would "
                    "destroy it. Choose another file.")
    if target.is_dir():
        raise click.ClickException(f"{target} is a directory; give a file name")
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists; use --force to replace it")


@contextlib.contextmanager
def atomic_text(path: str | Path, *, protect: Sequence[Path] = (), force: bool = True
                ) -> Iterator[IO[str]]:
    """A text file handle whose content replaces ``path`` only when the block completes.

    Any OS failure (a full disk, no permission) becomes a one-line message and exit 1, with
    no partial file left behind."""
    target = Path(path)
    check_target(target, protect, force=force)
    fd, tmp_name = -1, ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent if str(target.parent) else ".")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fd = -1
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""
    except OSError as exc:
        click.echo(f"error: cannot write {target}: {exc.strerror or exc}; nothing was "
                   "written", err=True)
        sys.exit(1)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def ledger_files(store: object) -> list[Path]:
    """The files of a store that no output may overwrite (none for a team database)."""
    path = getattr(store, "path", None)
    return [path] if isinstance(path, Path) and str(path) != ":memory:" else []
