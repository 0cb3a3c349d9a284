"""`routedeck serve` without a browser: who may listen, what it runs, which pages may connect.
(The served console answering a prompt in Chromium is tests/browser/test_serve_browser.py.)"""

from __future__ import annotations

import shlex
import sys

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.commands import serve as serve_mod


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "demo-laptop.local"])
def test_refuses_a_non_loopback_host_without_the_flag(host, monkeypatch):
    started = []
    monkeypatch.setattr(serve_mod, "make_server", lambda *a, **k: started.append(a))
    result = CliRunner().invoke(cli, ["serve", "--host", host])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--allow-remote" in result.output
    assert not started


class FakeServer:
    def __init__(self, calls):
        self.calls = calls

    def serve(self):
        self.calls.append("served")


def test_allow_remote_warns_and_passes_the_config_through(tmp_path, monkeypatch):
    cfg = tmp_path / "demo config.toml"
    cfg.write_text('[router]\nstrategy = "rules"\n', encoding="utf-8")
    calls: list = []

    def fake_make_server(command, host, port, url, title, loopback):
        calls.append((command, host, port, url, loopback))
        return FakeServer(calls)

    monkeypatch.setattr(serve_mod, "make_server", fake_make_server)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "serve", "--host", "0.0.0.0",
                                      "--port", "8123", "--allow-remote", "--tier", "cheap"])
    assert result.exit_code == 0, result.output
    assert "warning: serving the console beyond this machine" in result.stderr
    assert "spend money with the configured API keys" in result.stderr
    (command, host, port, url, loopback), done = calls
    assert done == "served" and (host, port, loopback) == ("0.0.0.0", 8123, False)
    assert shlex.split(command) == [sys.executable, "-m", "app", "--config",
                                    str(cfg.resolve()), "--tier", "cheap"]
    assert url.startswith("http://") and url.endswith(":8123") and "0.0.0.0" not in url


def test_loopback_needs_no_flag_and_prints_no_warning(monkeypatch):
    calls: list = []
    monkeypatch.setattr(serve_mod, "make_server",
                        lambda *a: calls.append(a) or FakeServer(calls))
    result = CliRunner().invoke(cli, ["serve", "--port", "8124"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and "http://127.0.0.1:8124" in result.stderr
    assert calls[0][1:] == ("127.0.0.1", 8124, "http://127.0.0.1:8124", "RouteDeck", True)


def test_bad_tier_and_bad_config_fail_before_listening(tmp_path, monkeypatch):
    monkeypatch.setattr(serve_mod, "make_server", lambda *a: pytest.fail("must not start"))
    assert CliRunner().invoke(cli, ["serve", "--tier", "gold"]).exit_code == 2
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[router]\nthresholds = [2]\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["--config", str(cfg), "serve"]).exit_code == 2


def test_a_port_in_use_is_one_error_line_before_anything_says_it_runs(monkeypatch):
    import socket

    monkeypatch.setattr(serve_mod, "make_server", lambda *a: pytest.fail("must not start"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} is in use" in result.stderr and "--port" in result.stderr
    assert "console at" not in result.stderr and "Traceback" not in result.output


def test_loopback_hosts():
    for host in ("127.0.0.1", "127.3.4.5", "localhost", "::1", "[::1]"):
        assert serve_mod.is_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com"):
        assert not serve_mod.is_loopback(host), host


def test_websocket_origin_rules():
    allowed = "http://127.0.0.1:8000"
    ok = serve_mod.websocket_problem
    assert ok("http://127.0.0.1:8000", "127.0.0.1:8000", allowed, True) == ""
    assert ok("http://localhost:8000", "localhost:8000", allowed, True) == ""  # same origin
    assert ok(None, "127.0.0.1:8000", allowed, True) == ""  # not a browser
    assert "may not open" in ok("https://evil.example", "127.0.0.1:8000", allowed, True)
    assert "loopback" in ok("http://evil.example:8000", "evil.example:8000", allowed, True)
    remote = "http://demo-laptop:8000"
    assert ok("http://demo-laptop:8000", "demo-laptop:8000", remote, False) == ""
    assert "may not open" in ok("http://evil.example", "demo-laptop:8000", remote, False)


def test_serve_does_not_import_the_console():
    import subprocess

    code = ("import sys; from app.commands import serve; "
            "assert not [m for m in sys.modules if m.startswith(('app.tui', 'textual'))]")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
