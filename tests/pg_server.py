"""A real PostgreSQL server for the tests: the system's server binaries (Debian's
``postgresql`` package) run by pytest-postgresql's executor, one per test session, on a
loopback port with password (SCRAM) authentication, as a team server would have.

Each test that asks for it gets a fresh database (pytest-postgresql's janitor) and a URL
without the password; the password travels in the environment variable the config names,
as in production.

PostgreSQL refuses to run as root (CI runs as root): then the server runs as the
``postgres`` system user that the Debian package creates, through ``runuser``.
"""

from __future__ import annotations

import glob
import itertools
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

ADMIN = "postgres"
MISSING = (
    "PostgreSQL server binaries were not found (no pg_ctl under /usr/lib/postgresql/*/bin, "
    "in $ROUTEDECK_TEST_PG_BINDIR, or from pg_config --bindir). The PostgreSQL tests never "
    "skip: install the server with `apt-get install -y postgresql` (.ci/run does this), or "
    "point ROUTEDECK_TEST_PG_BINDIR at a directory holding pg_ctl."
)


class PgMissing(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory of the newest installed PostgreSQL server (pg_ctl, initdb, postgres)."""
    candidates: list[Path] = []
    env = os.environ.get("ROUTEDECK_TEST_PG_BINDIR")
    if env:
        candidates.append(Path(env))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                      else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    for c in candidates:
        if (c / "pg_ctl").is_file() and (c / "initdb").is_file() and (c / "postgres").is_file():
            return c
    raise PgMissing(MISSING)


class PgServer:
    """One running server; :meth:`new_database` hands out empty databases."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.port = get_port(None)
        self.host = "127.0.0.1"
        self.password = "admin-" + secrets.token_hex(8)
        self.base = Path(tempfile.mkdtemp(prefix="routedeck-pg-"))
        self._counter = itertools.count(1)
        self._executor: PostgreSQLExecutor | None = None

    def start(self) -> PgServer:
        pg_ctl = str(self.bindir / "pg_ctl")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            shutil.chown(self.base, ADMIN, ADMIN)
            wrapper = self.base / "pg_ctl-as-postgres"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {ADMIN} -- "{pg_ctl}" "$@"\n',
                               encoding="utf-8")
            wrapper.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH |
                          stat.S_IXOTH)
            pg_ctl = str(wrapper)
        self.base.chmod(0o755)
        # Durability is not what these tests measure: no fsync keeps a 2-core CI quick.
        options = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c listen_addresses=127.0.0.1 -c max_connections=100")
        self._executor = PostgreSQLExecutor(
            executable=pg_ctl, host=self.host, port=self.port,
            datadir=str(self.base / "data"), unixsocketdir=str(self.base),
            logfile=str(self.base / "server.log"), startparams="-w", dbname="postgres",
            user=ADMIN, password=None, postgres_options=options, timeout=120,
        )
        self._executor.start()
        self._require_passwords()
        return self

    def _require_passwords(self) -> None:
        """Set the admin password and make TCP logins prove theirs (SCRAM), like a real
        team server; only the Unix socket (used here, once) stays trusted."""
        with self._first_connection() as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(ADMIN), psycopg.sql.Literal(self.password)))
            hba = self.base / "data" / "pg_hba.conf"
            hba.write_text("local all all trust\n"
                           "host all all 127.0.0.1/32 scram-sha-256\n"
                           "host all all ::1/128 scram-sha-256\n", encoding="utf-8")
            conn.execute("SELECT pg_reload_conf()")

    def _first_connection(self) -> psycopg.Connection:
        # The port opens a moment before the server accepts logins ("starting up").
        deadline = time.monotonic() + 60
        while True:
            try:
                return psycopg.connect(host=str(self.base), port=self.port, user=ADMIN,
                                       dbname="postgres", autocommit=True)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=ADMIN,
                               password=self.password, dbname=dbname, autocommit=True)

    def new_database(self) -> tuple[str, DatabaseJanitor]:
        name = f"routedeck_test_{os.getpid()}_{next(self._counter)}"
        janitor = DatabaseJanitor(user=ADMIN, host=self.host, port=self.port, dbname=name,
                                  password=self.password)
        janitor.init()
        return name, janitor

    def url(self, dbname: str, user: str = ADMIN) -> str:
        """A URL as a user would write it in [store] url: no password in it."""
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        if self._executor is not None:
            try:
                self._executor.stop()
            finally:
                self._executor = None
        shutil.rmtree(self.base, ignore_errors=True)
