"""Shared test fixtures: every test gets its own ROUTEDECK_HOME and no internet access."""

from __future__ import annotations

import ipaddress
import socket

import pytest


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX and friends are local
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point all state at a temp dir and clear anything that could reach a real provider."""
    home = tmp_path / "rdhome"
    home.mkdir()
    monkeypatch.setenv("ROUTEDECK_HOME", str(home))
    monkeypatch.delenv("ROUTEDECK_CONFIG", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("ROUTEDECK_") and name not in ("ROUTEDECK_HOME",):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return home


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Tests never reach the internet: only loopback connections are allowed."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach the internet ({address!r})")
        return real_connect(self, address)

    def guarded_connect_ex(self, address):
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach the internet ({address!r})")
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback((host,)):
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


# ===========================================================================================
# Loopback OpenAI-compatible server fixtures (issue 4). Shared by engine, CLI and TUI tests.
# ===========================================================================================
from pathlib import Path  # noqa: E402 - this section is appended to the shared conftest

from tests.loopback_server import LoopbackServer, config_toml  # noqa: E402


@pytest.fixture
def loopback():
    """A running :class:`tests.loopback_server.LoopbackServer` on 127.0.0.1 (one per test).

    ``loopback.base_url`` is the provider base URL (``http://127.0.0.1:PORT/v1``). Control it
    with ``loopback.reply = "..."``, ``loopback.replies[model]``, ``loopback.send_usage``,
    ``loopback.logprobs_supported``/``loopback.logprob``, ``loopback.known_models``,
    ``loopback.fail_next(Fault.http(429, retry_after=0.05), model="cheap-model")``,
    ``loopback.fail_always(Fault.hang())``; inspect ``loopback.requests`` /
    ``loopback.bodies()`` to see what the client sent (history, stream options, logprobs).
    """
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def loopback_config(loopback, tmp_path):
    """Factory: ``loopback_config(**kw) -> Path`` of a config TOML for the loopback server.

    Tiers cheap/mid/premium (models cheap-model/mid-model/premium-model, config prices), a
    keyless provider named ``loop`` by default (``key_env="MY_ENV"`` to need a key), short
    timeouts/backoff. Keyword arguments are those of :func:`tests.loopback_server.config_toml`.
    """
    counter = iter(range(1_000_000))

    def make(**kw) -> Path:
        path = tmp_path / f"loopback-{next(counter)}.toml"
        path.write_text(config_toml(loopback.base_url, **kw), encoding="utf-8")
        return path

    return make


@pytest.fixture
def loopback_settings(loopback_config):
    """Factory: ``loopback_settings(**kw) -> Settings`` loaded from :func:`loopback_config`."""
    from app.core.config.loader import load_settings

    def make(**kw):
        return load_settings(loopback_config(**kw))

    return make


# ===========================================================================================
# A real PostgreSQL server (issue 13): the ledger tests run on SQLite and on PostgreSQL.
# ===========================================================================================
from tests.pg_server import PgMissing, PgServer  # noqa: E402 - appended section, like above

PG_PASSWORD_ENV = "ROUTEDECK_PG_PASSWORD"


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the whole run (system binaries, loopback, SCRAM logins).

    Missing binaries FAIL the tests that need it, with the fix: they are never skipped.
    """
    try:
        server = PgServer().start()
    except PgMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server, monkeypatch):
    """A fresh, empty database: its URL (no password in it; the password is exported in
    ROUTEDECK_PG_PASSWORD, the variable [store] password_env names by default)."""
    name, janitor = pg_server.new_database()
    monkeypatch.setenv(PG_PASSWORD_ENV, pg_server.password)
    yield pg_server.url(name)
    janitor.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch):
    """Run the test on both ledger backends. For "postgresql", ROUTEDECK_STORE__URL points
    [store] url at a fresh database, so open_store(), the CLI and the console all use it."""
    if request.param == "postgresql":
        monkeypatch.setenv("ROUTEDECK_STORE__URL", request.getfixturevalue("pg_url"))
    return request.param
