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
