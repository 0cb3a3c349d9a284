"""Secrets: an API key never leaves the environment variable that holds it.

A sentinel key is exported under the variable the config names; the CLI (ask ok / 401 /
429 / 500 / 400 with servers that echo the key, route, report in every format, export
jsonl/csv to files and stdout, config check/path) and the console (a good turn, a 401 turn,
a resumed session, an SVG screenshot) run against loopback servers. Then every byte they
produced is searched: stdout/stderr, Python log records at DEBUG (openai, httpx, ours), every
file under the test's temp dir (the SQLite database with its -wal/-shm files, the response
cache, exports, config files, any logs under ROUTEDECK_HOME), the console's widget text,
its screen as the terminal would receive it and its SVG screenshot. The sentinel (and its
distinctive middle part, in case something masks only the prefix) must appear nowhere.

Also: a config file holding a literal key that others can read produces one warning, from
``config check`` and from every other command that loads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path

import pytest

from app.core.config.loader import load_settings
from app.core.ledger.store import SQLiteStore, open_store
from app.tui.widgets.prompt import PromptInput
from tests.loopback_server import Fault, config_toml
from tests.reliability.helpers import ErrorServer, run_cli
from tests.tui.helpers import make_app

pytestmark = pytest.mark.reliability

SENTINEL = "sk-SENTINEL-7f3a9c1e5b2d4068aa11zz"
MIDDLE = "7f3a9c1e5b2d4068aa11"
KEY_ENV = "RD_RELIABILITY_KEY"
SIZE = (150, 44)


def leaks(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return SENTINEL.encode() in text or MIDDLE.encode() in text
    return SENTINEL in text or MIDDLE in text


def files_with_sentinel(root: Path, skip: set[Path] = frozenset()) -> list[str]:
    """Every file under ``root`` whose bytes contain the sentinel (config files excepted
    when listed in ``skip``: a test may have put the key there on purpose)."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip and leaks(path.read_bytes()):
            found.append(str(path.relative_to(root)))
    return found


def EchoKeyServer(statuses: list[int]) -> ErrorServer:
    """A server that misbehaves in the worst way: its error messages quote the Authorization
    header back (some proxies and gateways do). The engine must scrub the key from anything
    it shows or stores. Answers cycle through ``statuses``."""

    def quote(headers: dict[str, str]) -> str:
        auth = headers.get("Authorization", "")
        return f"Bad key {auth} (you sent {auth.removeprefix('Bearer ')})"

    return ErrorServer(statuses, quote)


@pytest.fixture
def sentinel_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SENTINEL)
    return KEY_ENV


def test_cli_never_shows_or_stores_the_key(sentinel_env, loopback, loopback_config, tmp_path,
                                           caplog):
    caplog.set_level(logging.DEBUG)
    cfg = loopback_config(key_env=KEY_ENV)
    outputs: list[str] = []

    def run(*args: str, config: Path | None = cfg, code: int | None = 0) -> None:
        res = run_cli(*args, config=config)
        outputs.extend([res.stdout, res.stderr])
        if code is not None:
            assert res.exit_code == code, (args, res.stderr)

    run("ask", "hello there")
    run("ask", "--json", "--no-cache", "what is 2+2")
    assert loopback.requests[-1].headers["authorization"] == f"Bearer {SENTINEL}"
    for status in (401, 403, 404, 400):
        loopback.fail_always(Fault.http(status))
        run("ask", "--no-cache", "hello there", code=1)
        run("ask", "--json", "--no-cache", "hello there", code=1)
    loopback.reset()
    for statuses in ([400], [401], [429], [500], [503]):
        with EchoKeyServer(statuses) as echo:
            echo_cfg = tmp_path / f"echo-{statuses[0]}.toml"
            echo_cfg.write_text(config_toml(echo.base_url, key_env=KEY_ENV, max_retries=0,
                                            cache=False), encoding="utf-8")
            run("ask", "--no-cache", "hello there", config=echo_cfg, code=1)
            run("ask", "--json", "--no-cache", "hello there", config=echo_cfg, code=1)
            assert echo.calls >= 2
    dead = tmp_path / "dead.toml"
    dead.write_text(config_toml("http://nonexistent.invalid/v1", key_env=KEY_ENV,
                                max_retries=0), encoding="utf-8")
    run("ask", "--json", "--no-cache", "hello there", config=dead, code=1)
    run("route", "hello there")
    run("route", "--json", "hello there")
    run("report")
    run("report", "--json")
    run("report", "--csv")
    run("export", "--format", "jsonl")
    run("export", "--format", "csv")
    run("export", "--format", "jsonl", "--out", str(tmp_path / "ledger.jsonl"))
    run("export", "--format", "csv", "--out", str(tmp_path / "ledger.csv"))
    run("config", "check")
    run("config", "path")

    rows = open_store().requests()
    assert len(rows) >= 20 and any(r["error_kind"] == "auth" for r in rows)
    assert any("Bad key" in (r["error_message"] or "") for r in rows)  # the echo was stored...
    assert (tmp_path / "ledger.jsonl").stat().st_size > 0
    assert [o for o in outputs if leaks(o)] == []
    assert not leaks(caplog.text)
    assert not leaks(json.dumps(rows))  # ...scrubbed
    assert files_with_sentinel(tmp_path) == []
    home = Path(os.environ["ROUTEDECK_HOME"])
    assert list(home.rglob("*.db")), "expected the ledger and cache databases under the home"


async def _console_turns(settings, prompts, texts: list[str], tmp_path: Path,
                         between=None) -> None:
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        for i, prompt in enumerate(prompts, start=1):
            if between is not None:
                between(i)
            app.query_one(PromptInput).text = prompt
            await pilot.press("enter")
            deadline = time.monotonic() + 10
            while app.running or len(app.session.conversation) < i:
                assert time.monotonic() < deadline, "console did not finish the turn"
                await pilot.pause(0.02)
        await pilot.press("f2")  # ledger details screen
        await pilot.pause()
        texts.append(app.export_screenshot())
        await pilot.press("escape")
        await pilot.pause()
        texts.append(app.export_screenshot())
        texts.extend(str(w.render()) for w in app.query("*"))
        texts.extend(str(n.message) for n in app._notifications)
        texts.append(app.query_one(PromptInput).text)
        assert files_with_sentinel(tmp_path) == []  # while the store is open (-wal, -shm)


async def test_console_never_shows_or_stores_the_key(sentinel_env, loopback, loopback_config,
                                                     tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def faults(i: int) -> None:
        loopback.fail_always(Fault.http(401) if i == 2 else None)

    await _console_turns(load_settings(loopback_config(key_env=KEY_ENV)),
                         ["hello there", "and again"], texts, tmp_path, faults)
    assert loopback.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"
    # A provider whose error messages quote the key back.
    with EchoKeyServer([500, 429, 400]) as echo:
        cfg = tmp_path / "echo.toml"
        cfg.write_text(config_toml(echo.base_url, key_env=KEY_ENV, cache=False),
                       encoding="utf-8")
        await _console_turns(load_settings(cfg), ["third question"], texts, tmp_path)
        assert echo.calls >= 2
    assert [t[:200] for t in texts if leaks(t)] == []
    assert not leaks(caplog.text)
    assert files_with_sentinel(tmp_path) == []
    rows = open_store().requests()
    assert [r["error_kind"] for r in rows][:2] == [None, "auth"] and len(rows) >= 4
    assert not leaks(json.dumps(rows))


def test_engine_scrubs_an_echoed_key_from_every_error_kind(sentinel_env, tmp_path):
    from app.core.calling.providers import scrub

    assert scrub(f"key {SENTINEL} here", SENTINEL) == "key *** here"
    assert not leaks(scrub(f"Bearer {SENTINEL}"))  # key-shaped text even without the key
    with EchoKeyServer([400, 429, 500]) as echo:
        cfg = tmp_path / "echo.toml"
        cfg.write_text(config_toml(echo.base_url, key_env=KEY_ENV, max_retries=2,
                                   cache=False), encoding="utf-8")
        res = run_cli("ask", "--json", "hello there", config=cfg)
    assert res.exit_code == 1 and not leaks(res.stdout + res.stderr)
    rows = open_store().requests()
    assert {r["error_kind"] for r in rows} >= {"bad_request"}
    assert not leaks(json.dumps(rows))


# --- literal keys in readable config files ----------------------------------------------
GOOD = """
[providers.loop]
base_url = "http://127.0.0.1:9/v1"
api_key_env = ""

[[tiers]]
name = "cheap"
provider = "loop"
model = "m1"

[[tiers]]
name = "premium"
provider = "loop"
model = "m2"
"""


def _config(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "literal.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("args", [["config", "check"], ["route", "hi"], ["audit", "PROMPTS"],
                                  ["report"]])
def test_readable_config_with_literal_key_warns_once(tmp_path, args):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    args = [str(prompts) if a == "PROMPTS" else a for a in args]
    text = GOOD + f'\n# old setup: api_key = "{SENTINEL}"\n'
    cfg = _config(tmp_path, text, 0o644)
    res = run_cli(*args, config=cfg)
    assert res.exit_code == 0, res.stderr
    assert res.stderr.count("chmod 600") == 1, res.stderr
    assert not leaks(res.stdout + res.stderr)
    cfg.chmod(0o600)
    quiet = run_cli(*args, config=cfg)
    assert "chmod 600" not in quiet.stderr


def test_literal_key_setting_is_an_error_that_still_warns_and_never_echoes(tmp_path):
    text = GOOD.replace('api_key_env = ""', f'api_key = "{SENTINEL}"')
    cfg = _config(tmp_path, text, 0o640)
    for args in (["config", "check"], ["route", "hi"]):
        res = run_cli(*args, config=cfg)
        assert res.exit_code == 2
        assert "providers.loop.api_key" in res.stderr and "unknown key" in res.stderr
        assert res.stderr.count("chmod 600") == 1
        assert not leaks(res.stdout + res.stderr)


def test_key_pasted_into_api_key_env_is_rejected_without_echo(tmp_path, monkeypatch):
    text = GOOD.replace('api_key_env = ""', f'api_key_env = "{SENTINEL}"')
    cfg = _config(tmp_path, text, 0o600)
    for args in (["config", "check"], ["route", "hi"], ["ask", "hi"]):
        res = run_cli(*args, config=cfg)
        assert res.exit_code == 2, res.stdout
        assert "providers.loop.api_key_env" in res.stderr
        assert "name of an environment variable" in res.stderr
        assert not leaks(res.stdout + res.stderr)


# --- the team ledger (PostgreSQL) and telemetry (OTLP) -----------------------------------
PG_SENTINEL = "pgpw-SENTINEL-4b9e1d7c22aa55ffqq"
PG_MIDDLE = "4b9e1d7c22aa55ff"


def team_leaks(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return leaks(text) or PG_SENTINEL.encode() in text or PG_MIDDLE.encode() in text
    return leaks(text) or PG_SENTINEL in text or PG_MIDDLE in text


def test_team_store_and_telemetry_never_show_the_key_or_the_password(
        sentinel_env, pg_server, loopback, tmp_path, caplog, monkeypatch):
    """A sentinel API key and a sentinel PostgreSQL password, with the ledger on PostgreSQL
    and every attempt exported (text included, the worst case): neither appears in any span
    or metric the collector received, any row of the team database, any output, export or
    log record, any file, nor the database server's own log."""
    import psycopg

    from tests.otlp_receiver import OTLPReceiver

    caplog.set_level(logging.DEBUG)
    role, db = f"rd_sentinel_{os.getpid()}", f"rd_sentinel_db_{os.getpid()}"
    with pg_server.admin() as admin:
        admin.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(PG_SENTINEL)))
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
            psycopg.sql.Identifier(db), psycopg.sql.Identifier(role)))
    url = pg_server.url(db, user=role)
    monkeypatch.setenv("ROUTEDECK_PG_PASSWORD", PG_SENTINEL)
    outputs: list[str] = []

    def run(*args: str, config: Path, code: int | None = 0) -> None:
        res = run_cli(*args, config=config)
        outputs.extend([res.stdout, res.stderr])
        if code is not None:
            assert res.exit_code == code, (args, res.stderr)

    with SQLiteStore.open() as local:  # a local ledger to copy into the team store
        sid = local.new_session("mine")
        local.add_message(sid, "user", "local question")

    with OTLPReceiver() as rx:
        team = (f'\n[store]\nurl = "{url}"\n\n[telemetry]\notlp_endpoint = "{rx.endpoint}"\n'
                "export_text = true\nbatch_delay_s = 0.05\nmetrics_interval_s = 1\n")
        cfg = tmp_path / "team.toml"
        cfg.write_text(config_toml(loopback.base_url, key_env=KEY_ENV, extra=team),
                       encoding="utf-8")
        run("ask", "hello there", config=cfg)
        run("ask", "--json", "--no-cache", "what is 2+2", config=cfg)
        loopback.fail_always(Fault.http(401))
        run("ask", "--json", "--no-cache", "hello there", config=cfg, code=1)
        loopback.reset()
        with EchoKeyServer([500, 429, 400]) as echo:
            echo_cfg = tmp_path / "team-echo.toml"
            echo_cfg.write_text(config_toml(echo.base_url, key_env=KEY_ENV, cache=False,
                                            max_retries=0, extra=team), encoding="utf-8")
            run("ask", "--json", "hello there", config=echo_cfg, code=1)
        for args in (["report"], ["report", "--json"], ["report", "--csv"],
                     ["report", "--by", "user"], ["report", "--json", "--by", "host"],
                     ["export"], ["export", "--format", "csv"],
                     ["export", "--out", str(tmp_path / "team.jsonl")],
                     ["store", "info"], ["store", "info", "--json"],
                     ["store", "copy", "--to", url], ["store", "copy", "--json"],
                     ["config", "check"]):
            run(*args, config=cfg)
        texts: list[str] = []
        asyncio.run(_console_turns(load_settings(cfg), ["a console question"], texts,
                                   tmp_path))
        wrong = tmp_path / "wrong-db.toml"
        wrong.write_text(config_toml(loopback.base_url, key_env=KEY_ENV,
                                     extra=team.replace(f"/{db}\"", "/no_such_db\"")),
                         encoding="utf-8")
        run("report", config=wrong, code=1)
        assert "no_such_db" in outputs[-1]
        rx.wait_for_spans(6)
    assert len(rx.spans) >= 6 and rx.metrics  # telemetry really flowed
    assert any("gen_ai.input.messages" in s["attributes"] for s in rx.spans)

    with psycopg.connect(url, password=PG_SENTINEL) as conn:
        dump = json.dumps([conn.execute(f"SELECT * FROM {t}").fetchall() for t in
                           ("sessions", "messages", "requests", "verdicts",
                            "compare_pairs")], default=str)
        requests = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    assert requests >= 6 and "Bad key" in dump  # the echo was stored, scrubbed
    assert '"mine"' in dump  # store copy reached the team database
    assert [o[:300] for o in outputs if team_leaks(o)] == []
    assert [t[:200] for t in texts if team_leaks(t)] == []
    assert not team_leaks(caplog.text)
    assert not team_leaks(dump)
    assert not any(team_leaks(body) for body in rx.raw)
    assert not any(team_leaks(json.dumps(h)) for _, h in rx.requests)
    assert not team_leaks(json.dumps(rx.spans, default=str))
    assert [p for p in tmp_path.rglob("*") if p.is_file() and team_leaks(p.read_bytes())] == []
    server_log = pg_server.base / "server.log"
    assert server_log.is_file() and not team_leaks(server_log.read_bytes())


# --- a password inside a URL (base_url userinfo) ------------------------------------------
URL_SENTINEL = "urlpw-SENTINEL-93c1e0aa7d5bq"
URL_MIDDLE = "93c1e0aa7d5b"
TOKEN_SENTINEL = "urltok-SENTINEL-5e8f21cc40ddw"
TOKEN_MIDDLE = "5e8f21cc40dd"


def url_leaks(text: str | bytes) -> bool:
    needles = (URL_SENTINEL, URL_MIDDLE, TOKEN_SENTINEL, TOKEN_MIDDLE)
    if isinstance(text, bytes):
        return leaks(text) or any(n.encode() in text for n in needles)
    return leaks(text) or any(n in text for n in needles)


def with_userinfo(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def test_a_password_in_base_url_is_never_shown_logged_stored_or_exported(
        sentinel_env, loopback, tmp_path, caplog):
    """``base_url = "http://alice:PASSWORD@host/v1"`` (and a token as the whole userinfo) is
    treated like a key: every output, log record, ledger row, export (every path: stdout and
    --out, JSON Lines and CSV, --labels, report --json/--csv/--html) and file is searched."""
    caplog.set_level(logging.DEBUG)
    cfg = tmp_path / "userinfo.toml"
    cfg.write_text(config_toml(with_userinfo(loopback.base_url, f"alice:{URL_SENTINEL}"),
                               key_env=KEY_ENV), encoding="utf-8")
    token_cfg = tmp_path / "token.toml"
    token_cfg.write_text(config_toml(with_userinfo(loopback.base_url, TOKEN_SENTINEL),
                                     key_env=KEY_ENV, cache=False), encoding="utf-8")
    dead = tmp_path / "dead-userinfo.toml"
    dead.write_text(config_toml(f"http://alice:{URL_SENTINEL}@127.0.0.1:9/v1",
                                key_env=KEY_ENV, max_retries=0), encoding="utf-8")
    configs = {cfg, token_cfg, dead}
    outputs: list[str] = []

    def run(*args: str, config: Path = cfg, code: int | None = 0) -> None:
        res = run_cli(*args, config=config)
        outputs.extend([res.stdout, res.stderr])
        if code is not None:
            assert res.exit_code == code, (args, res.stderr)

    run("ask", "hello there")
    run("ask", "--json", "--no-cache", "what is 2+2")
    run("ask", "--json", "hello again", config=token_cfg)
    for status in (401, 404, 500):
        loopback.fail_always(Fault.http(status))
        run("ask", "--no-cache", "hello there", code=1)
        run("ask", "--json", "--no-cache", "hello there", code=1)
    loopback.reset()
    run("ask", "--no-cache", "hello there", config=dead, code=1)
    run("ask", "--json", "--no-cache", "hello there", config=dead, code=1)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("compare me\n", encoding="utf-8")
    run("compare", "-y", str(prompts))
    with open_store() as store:  # a verdict, so --labels exports a row
        pair = store.compare_pairs()[0]
        store.add_verdict(pair["answer_request_id"], pair["compared_request_id"], "tie")
    run("config", "check")
    run("config", "check", config=token_cfg)
    run("route", "--json", "hello there")
    for fmt in ([], ["--json"], ["--csv"], ["--by", "model"]):
        run("report", *fmt)
    run("report", "--html", str(tmp_path / "report.html"))
    for fmt in ("jsonl", "csv"):
        run("export", "--format", fmt)
        run("export", "--format", fmt, "--out", str(tmp_path / f"ledger.{fmt}"))
        run("export", "--labels", "--format", fmt)
        run("export", "--labels", "--format", fmt, "--out", str(tmp_path / f"labels.{fmt}"))
    texts: list[str] = []
    asyncio.run(_console_turns(load_settings(cfg), ["a console question"], texts, tmp_path))
    loopback.fail_always(Fault.http(401))
    asyncio.run(_console_turns(load_settings(cfg), ["a failing one"], texts, tmp_path))

    rows = open_store().requests()
    assert len(rows) >= 15 and any("was not found at" in (r["error_message"] or "")
                                   for r in rows)  # the URL was in a stored message...
    assert (tmp_path / "labels.jsonl").read_text().count("\n") == 1
    assert [o[:300] for o in outputs if url_leaks(o)] == []
    assert [t[:200] for t in texts if url_leaks(t)] == []
    assert not url_leaks(caplog.text)
    assert not url_leaks(json.dumps(rows))  # ...without its password
    found = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
             if p.is_file() and p not in configs and url_leaks(p.read_bytes())]
    assert found == []
    assert "alice:***@" in " ".join(outputs)  # shown, redacted
