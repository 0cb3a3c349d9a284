"""Broken storage, for real: a ledger locked by another writer, a full disk, an immutable
file, a read-only disk, a damaged database, an unwritable state or cache directory.

What must hold (README "No row is lost without a word"):

* a row the ledger cannot take is kept and retried; what is still refused when ``ask`` ends
  is spooled next to the ledger and written by the next command that opens it (``warning:``
  on stderr, ``ledger.queued`` in ``--json``, exit 0); a row that can be neither written
  nor spooled is an ``error:`` line every time, ``ledger.lost`` in ``--json``, exit 3;
* ``report`` and ``export`` read a read-only ledger, and say which file is damaged and how
  to start over instead of a traceback; an unwritable state dir is a message everywhere;
* the cache is optional: whatever is wrong with it, the answer comes, with one warning;
* ``export --out`` never writes over the ledger, never over an existing file without
  ``--force``, and a full disk leaves no partial file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from app.core.ledger.store import DB_NAME, SQLiteStore
from tests.reliability.disks import (
    damage,
    fill,
    immutable,
    read_only,
    tiny_fs,
    when,
    write_lock,
)
from tests.reliability.helpers import ledger_rows, run_cli

pytestmark = pytest.mark.reliability

FAST_LOCK = '\n[store]\nbusy_timeout_s = 0.3\n'


def home() -> Path:
    return Path(os.environ["ROUTEDECK_HOME"])


def db_path() -> Path:
    return home() / "data" / DB_NAME


def seeded(n: int = 3) -> Path:
    """A ledger with ``n`` answered calls in it (written through the store, as ask does)."""
    from app.core.ledger.records import AttemptRecord

    with SQLiteStore.open(db_path()) as store:
        sid = store.new_session("seed")
        for i in range(n):
            store.record_attempt(AttemptRecord(
                turn_id=f"t{i}", attempt=1, session_id=sid, tier="cheap", model="cheap-model",
                provider="loop", status="ok", started_at=1_700_000_000 + i, prompt=f"q{i}",
                answer=f"a{i}", input_tokens=10, output_tokens=5, cost_usd=0.001,
                premium_cost_usd=0.01))
    return db_path()


def no_traceback(res) -> None:
    assert "Traceback" not in (res.stdout or "") + (res.stderr or "")


# --- a ledger locked by another writer -----------------------------------------------
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_locked_ledger_keeps_the_row_and_the_next_command_writes_it(as_json, loopback,
                                                                    loopback_config):
    cfg = loopback_config(cache=False, extra=FAST_LOCK)
    db = seeded(1)
    with write_lock(db):
        res = run_cli("ask", *(["--json"] if as_json else []), "hello there", config=cfg)
        no_traceback(res)
        assert res.exit_code == 0, res.stderr  # answered; the row is safe in the spool
        assert len(ledger_rows_raw(db)) == 1
        spooled = list((db.parent / "pending").glob("*.jsonl"))
        assert len(spooled) == 1
    if as_json:
        ledger = json.loads(res.stdout)["ledger"]
        assert (ledger["queued"], ledger["lost"]) == (1, 0) and "locked" in ledger["summary"]
    else:
        assert res.stdout == loopback.reply + "\n"
        assert "warning: 1 call attempt(s) could not be written" in res.stderr
        assert "locked by another program" in res.stderr
    # The lock is gone: the next command that opens the ledger writes the kept row.
    rep = run_cli("report", "--json", config=cfg)
    assert json.loads(rep.stdout)["calls"] == 2
    assert not list((db.parent / "pending").glob("*.jsonl"))
    assert [r["prompt"] for r in ledger_rows()][-1] == "hello there"


def ledger_rows_raw(db: Path) -> list:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id FROM requests").fetchall()
    finally:
        conn.close()


def test_lock_released_during_the_turn_the_row_is_written_by_the_retry(loopback,
                                                                       loopback_config):
    from tests.loopback_server import Fault

    cfg = loopback_config(cache=False, extra='\n[store]\nbusy_timeout_s = 0.1\n')
    loopback.fail_next(Fault.http(500), model="cheap-model")  # a failed attempt, then an answer
    db = seeded(1)
    # Locked while the failed attempt is recorded; free once the retry is on its way.
    with write_lock(db, release_when=lambda: len(loopback.requests) >= 2):
        res = run_cli("ask", "--json", "hello there", config=cfg)
    out = json.loads(res.stdout)
    assert res.exit_code == 0 and out["ledger"]["saved"], out["ledger"]
    assert (out["ledger"]["retried"], out["ledger"]["queued"]) == (1, 0)
    assert [(r["status"], r["error_kind"]) for r in ledger_rows()][1:] == \
        [("error", "server"), ("ok", None)]


# --- a full disk ------------------------------------------------------------------------
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_disk_filling_mid_answer_loses_no_row_silently(as_json, loopback, loopback_config,
                                                       tmp_path, monkeypatch):
    fs = tmp_path / "small"
    with tiny_fs(fs, 2048):
        monkeypatch.setenv("ROUTEDECK_HOME", str(fs))
        cfg = loopback_config(cache=False)
        seeded(1)
        loopback.control.tokens_per_s = 20  # the disk fills while the answer streams
        filler = when(lambda: len(loopback.requests) >= 1, lambda: fill(fs))
        res = run_cli("ask", *(["--json"] if as_json else []), "hello there", config=cfg)
        filler.join()
        no_traceback(res)
        assert res.exit_code == 3, res.stderr  # answered, but its cost is not in the ledger
        if as_json:
            out = json.loads(res.stdout)
            assert out["status"] == "ok" and out["text"] == loopback.reply
            assert (out["ledger"]["lost"], out["ledger"]["saved"]) == (1, False)
            assert "full" in out["ledger"]["summary"]
            assert any("not recorded in the ledger" in n for n in out["notes"])
        else:
            assert res.stdout == loopback.reply + "\n"
            assert "error: 1 call attempt(s) could NOT be recorded" in res.stderr
            assert "disk is full" in res.stderr
        (fs / "filler").unlink()
        assert len(ledger_rows()) == 1  # the seeded row: nothing half-written


def test_disk_already_full_answers_and_says_nothing_is_saved(loopback, loopback_config,
                                                             tmp_path, monkeypatch):
    fs = tmp_path / "small"
    with tiny_fs(fs, 2048):
        monkeypatch.setenv("ROUTEDECK_HOME", str(fs))
        cfg = loopback_config(cache=False)
        seeded(1)
        fill(fs)
        res = run_cli("ask", "--json", "hello there", config=cfg)
        no_traceback(res)
        out = json.loads(res.stdout)
        assert res.exit_code == 3 and out["text"] == loopback.reply
        assert out["ledger"]["saved"] is False and "disk is full" in out["ledger"]["summary"]
        assert "disk is full" in res.stderr


def test_export_to_a_full_disk_is_a_message_and_leaves_no_file(tmp_path, loopback_config):
    seeded(200)
    fs = tmp_path / "small"
    with tiny_fs(fs, 64):
        (fs / "old.jsonl").write_text("the previous export\n")
        fill(fs)
        for out in (fs / "ledger.jsonl", fs / "old.jsonl"):
            res = run_cli("export", "--force", "--out", str(out), config=loopback_config())
            no_traceback(res)
            assert res.exit_code == 1 and "cannot write" in res.stderr
            assert "No space left on device" in res.stderr
        assert not (fs / "ledger.jsonl").exists()
        assert (fs / "old.jsonl").read_text() == "the previous export\n"
        assert sorted(p.name for p in fs.iterdir()) == ["filler", "filler-tail", "old.jsonl"]


# --- an immutable ledger file ---------------------------------------------------------
def test_immutable_ledger_file_keeps_the_row_for_later(loopback, loopback_config):
    cfg = loopback_config(cache=False, extra=FAST_LOCK)
    db = seeded(1)
    SQLiteStore.open(db).close()  # checkpointed and closed, as a finished run leaves it
    with immutable(db):
        res = run_cli("ask", "--json", "hello there", config=cfg)
        no_traceback(res)
        out = json.loads(res.stdout)
        assert res.exit_code == 0 and out["text"] == loopback.reply
        assert out["ledger"]["queued"] == 1, out["ledger"]
        rep = run_cli("report", "--json", config=cfg)  # still readable meanwhile
        assert rep.exit_code == 0 and json.loads(rep.stdout)["calls"] == 1
    rep = run_cli("report", "--json", config=cfg)
    assert json.loads(rep.stdout)["calls"] == 2


# --- a read-only but intact ledger ------------------------------------------------------
def test_report_and_export_read_a_read_only_ledger(tmp_path, loopback_config):
    seeded(3)
    SQLiteStore.open(db_path()).close()
    cfg = loopback_config()
    with read_only(db_path().parent):
        rep = run_cli("report", "--json", config=cfg)
        no_traceback(rep)
        assert rep.exit_code == 0 and json.loads(rep.stdout)["calls"] == 3
        text = run_cli("report", config=cfg)
        assert text.exit_code == 0 and "calls 3" in text.stdout
        exp = run_cli("export", config=cfg)
        assert exp.exit_code == 0 and len(exp.stdout.splitlines()) == 3
        out = tmp_path / "out.csv"
        exp = run_cli("export", "--format", "csv", "--out", str(out), config=cfg)
        assert exp.exit_code == 0 and len(out.read_text().splitlines()) == 4


# --- a damaged database -----------------------------------------------------------------
@pytest.mark.parametrize("args", [["report"], ["report", "--json"], ["export"],
                                  ["export", "--labels"], ["report", "--by", "tier"],
                                  ["review"]])
def test_damaged_ledger_names_the_file_and_the_way_out(args, loopback_config):
    db = seeded(400)
    damage(db)
    res = run_cli(*args, config=loopback_config())
    no_traceback(res)
    assert res.exit_code == 1, res.stdout
    assert str(db) in res.stderr and "damaged" in res.stderr
    assert f"mv '{db}' '{db}.broken'" in res.stderr


async def test_console_starts_on_a_damaged_ledger_and_says_why(loopback_config):
    from app.core.config.loader import load_settings
    from tests.tui.helpers import ask_and_wait, make_app

    db = seeded(400)
    damage(db)
    app = make_app(load_settings(loopback_config(cache=False)))
    async with app.run_test(size=(150, 44)) as pilot:
        await pilot.pause()
        told = " ".join(str(n.message) for n in app._notifications)
        assert str(db) in told and "damaged" in told and ".broken" in told
        await ask_and_wait(pilot, "hello there")
        assert app.session.conversation[0].status == "ok"  # in memory for this run


def test_ask_on_a_damaged_ledger_answers_and_says_nothing_is_saved(loopback, loopback_config):
    db = seeded(400)
    damage(db)
    res = run_cli("ask", "--json", "hello there", config=loopback_config(cache=False))
    no_traceback(res)
    out = json.loads(res.stdout)
    assert out["text"] == loopback.reply and res.exit_code == 3
    assert out["ledger"]["saved"] is False and "damaged" in out["ledger"]["summary"]


# --- unwritable state dirs --------------------------------------------------------------
@pytest.mark.parametrize("args", [["report"], ["report", "--json"], ["export"],
                                  ["config", "init"]])
def test_unwritable_state_dir_is_a_message(args, tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("ROUTEDECK_HOME", str(state))
    with read_only(state):
        res = run_cli(*args)
    no_traceback(res)
    assert res.exit_code == 1, res.stdout
    assert str(state) in res.stderr and ("not writable" in res.stderr or
                                         "Read-only" in res.stderr)


@pytest.mark.parametrize("args", [["ask", "--session", "1" + "0" * 29, "hi"],
                                  ["report", "--session", "9" * 30],
                                  ["export", "--session", "9" * 30],
                                  ["review", "--session", "9" * 30]])
def test_thirty_digit_session_id_is_a_clear_error(args, loopback_config):
    seeded(1)
    res = run_cli(*args, config=loopback_config())
    no_traceback(res)
    assert res.exit_code == 2 and "--session" in res.stderr
    assert "is not in the range" in res.stderr


def test_console_thirty_digit_session_id_is_a_clear_error(loopback_config):
    seeded(1)
    res = run_cli("--session", "1" + "0" * 29, config=loopback_config())
    no_traceback(res)
    assert res.exit_code == 2 and "--session" in res.stderr


# --- the optional cache ------------------------------------------------------------------
def _cache_file_instead_of_dir() -> None:
    (home() / "cache").write_text("not a directory")


def _cache_dir_read_only() -> None:
    (home() / "cache").mkdir(parents=True, exist_ok=True)


CACHE_FAULTS = {"file-instead-of-dir": _cache_file_instead_of_dir,
                "read-only-mount": _cache_dir_read_only}


@pytest.mark.parametrize("fault", sorted(CACHE_FAULTS))
def test_a_broken_cache_warns_once_and_answers(fault, loopback, loopback_config):
    CACHE_FAULTS[fault]()
    cfg = loopback_config(cache=True)
    cache = home() / "cache"
    ctx = read_only(cache) if fault == "read-only-mount" else _nothing()
    with ctx:
        for prompt in ("hello there", "and again"):
            res = run_cli("ask", prompt, config=cfg)
            no_traceback(res)
            assert res.exit_code == 0, res.stderr
            assert res.stdout == loopback.reply + "\n"
            assert res.stderr.count("response cache is off") == 1, res.stderr
    assert len(ledger_rows()) == 2 and len(loopback.bodies()) == 2


def test_unwritable_xdg_cache_home_warns_once_and_answers(loopback, loopback_config, tmp_path,
                                                          monkeypatch):
    xdg = tmp_path / "xdg-cache"
    xdg.mkdir()
    monkeypatch.delenv("ROUTEDECK_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    with read_only(xdg):
        res = run_cli("ask", "hello there", config=loopback_config(cache=True))
    no_traceback(res)
    assert res.exit_code == 0 and res.stdout == loopback.reply + "\n"
    assert res.stderr.count("response cache is off") == 1


async def test_console_with_a_read_only_cache_answers_and_warns_once(loopback, loopback_config):
    from app.core.config.loader import load_settings
    from tests.tui.helpers import ask_and_wait, make_app

    cache = home() / "cache"
    cache.mkdir(parents=True)
    with read_only(cache):
        app = make_app(load_settings(loopback_config(cache=True)))
        async with app.run_test(size=(150, 44)) as pilot:
            for prompt in ("hello there", "second", "third"):
                await ask_and_wait(pilot, prompt)
            turns = app.session.conversation
            assert [turns[i].status for i in range(3)] == ["ok"] * 3
            told = [str(n.message) for n in app._notifications]
            assert sum("response cache is off" in t for t in told) == 1, told
            assert not any("Internal error" in t for t in told)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


# --- the console on a locked or full ledger ------------------------------------------------
async def test_console_ctrl_n_on_a_locked_ledger_is_a_toast(loopback_config):
    from app.core.config.loader import load_settings
    from tests.tui.helpers import ask_and_wait, make_app, wait_for

    app = make_app(load_settings(loopback_config(cache=False, extra=FAST_LOCK)))
    async with app.run_test(size=(150, 44)) as pilot:
        await ask_and_wait(pilot, "hello there")
        first = app.session.session_id
        with write_lock(db_path()):
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: any("No new session" in str(n.message)
                                              for n in app._notifications))
        told = " ".join(str(n.message) for n in app._notifications)
        assert "locked by another program" in told
        assert app.session.session_id == first  # still in the old one, and alive
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.session_id != first)


async def test_console_on_a_locked_ledger_answers_and_keeps_the_row(loopback, loopback_config):
    from app.core.config.loader import load_settings
    from tests.tui.helpers import ask_and_wait, make_app

    cfg = loopback_config(cache=False, extra=FAST_LOCK)
    app = make_app(load_settings(cfg))
    with write_lock(db_path()):  # locked until after the console has closed
        async with app.run_test(size=(150, 44)) as pilot:
            await ask_and_wait(pilot, "hello there")
            assert app.session.conversation[0].status == "ok"
            told = " ".join(str(n.message) for n in app._notifications)
            assert "not written yet" in told and "locked" in told, told
        outcome = app.session.services.write_outcome  # what the console's exit says
        assert (outcome.spooled, outcome.lost) == (1, 0)
    rep = run_cli("report", "--json", config=cfg)
    assert json.loads(rep.stdout)["calls"] == 1


async def test_console_on_a_full_disk_keeps_the_answer_and_says_it(loopback, loopback_config,
                                                                   tmp_path, monkeypatch):
    from app.core.config.loader import load_settings
    from app.tui.widgets.chat import AnswerView
    from tests.tui.helpers import ask_and_wait, make_app

    fs = tmp_path / "small"
    with tiny_fs(fs, 2048):
        monkeypatch.setenv("ROUTEDECK_HOME", str(fs))
        cfg = loopback_config(cache=False)
        seeded(1)
        app = make_app(load_settings(cfg))
        async with app.run_test(size=(150, 44)) as pilot:
            fill(fs)
            await ask_and_wait(pilot, "hello there")
            turn = app.session.conversation[0]
            assert turn.status == "ok" and list(app.query(AnswerView))[-1].text == loopback.reply
            told = " ".join(str(n.message) for n in app._notifications)
            assert "not recorded in the ledger" in told or "not saved" in told, told
        (fs / "filler").unlink()


# --- export never over the ledger or an existing file ------------------------------------
def test_export_refuses_the_ledger_and_existing_files(tmp_path, loopback_config):
    db = seeded(5)
    cfg = loopback_config()
    before = db.read_bytes()
    link = tmp_path / "link.db"
    link.symlink_to(db)
    for target in (db, Path(f"{db}-wal"), link):
        for extra in ([], ["--force"]):
            res = run_cli("export", "--format", "jsonl", *extra, "--out", str(target),
                          config=cfg)
            no_traceback(res)
            assert res.exit_code == 1 and "ledger's own database" in res.stderr
    res = run_cli("report", "--html", str(db), config=cfg)  # any page written from the ledger
    assert res.exit_code == 1 and "ledger's own database" in res.stderr
    assert db.read_bytes()[:100] == before[:100] and len(ledger_rows()) == 5
    existing = tmp_path / "old.jsonl"
    existing.write_text("keep me\n")
    res = run_cli("export", "--out", str(existing), config=cfg)
    assert res.exit_code == 1 and "--force" in res.stderr
    assert existing.read_text() == "keep me\n"
    res = run_cli("export", "--force", "--out", str(existing), config=cfg)
    assert res.exit_code == 0 and len(existing.read_text().splitlines()) == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_export_is_atomic_into_a_fresh_file(tmp_path, loopback_config):
    seeded(5)
    out = tmp_path / "new" / "ledger.csv"
    out.parent.mkdir()
    res = run_cli("export", "--format", "csv", "--out", str(out), config=loopback_config())
    assert res.exit_code == 0 and out.read_text().count("\n") == 6
    assert sorted(p.name for p in out.parent.iterdir()) == ["ledger.csv"]


def test_spool_survives_and_drains_once(tmp_path):
    """Two stores drain the same spool: each kept row lands exactly once."""
    from app.core.ledger.records import AttemptRecord
    from app.core.ledger.store import open_store, spool_dir
    from app.core.ledger.writer import LedgerWriter

    db = seeded(1)
    with SQLiteStore.open(db) as store, write_lock(db):
        store.busy_timeout_s = 0.1
        store._conn.execute("PRAGMA busy_timeout = 100")
        writer = LedgerWriter(store, spool_dir(store))
        for i in range(3):
            with pytest.raises(Exception, match="locked"):
                writer.record_attempt(AttemptRecord(
                    turn_id=f"k{i}", attempt=1, session_id=None, tier="cheap", model="m",
                    provider="p", status="ok", started_at=1.0))
        outcome = writer.close()
        assert (outcome.spooled, outcome.lost) == (3, 0)
    shutil.copy(outcome.spool_file, tmp_path / "copy.jsonl")
    open_store().close()
    outcome.spool_file.parent.joinpath(outcome.spool_file.name).write_bytes(
        (tmp_path / "copy.jsonl").read_bytes())  # the same rows offered a second time
    open_store().close()
    assert sorted(r["turn_id"] for r in ledger_rows()) == ["k0", "k1", "k2", "t0"]


def test_kept_rows_drain_into_either_backend(backend):
    """The spool is the store's, whichever it is: rows a team database refused (it was
    unreachable) go into it on the next open, once."""
    from app.core.ledger.records import AttemptRecord
    from app.core.ledger.store import StoreError, spool_dir
    from app.core.ledger.writer import LedgerWriter
    from tests.fakes import open_test_store

    class Unreachable:
        def __init__(self, real):
            self.location, self.in_memory_only, self.path = real.location, False, \
                getattr(real, "path", None)

        def record_attempt(self, rec):
            raise StoreError(f"{self.location}: the server closed the connection")

    with open_test_store() as real:
        writer = LedgerWriter(Unreachable(real), spool_dir(real))
        for i in range(2):
            with pytest.raises(Exception, match="closed the connection"):
                writer.record_attempt(AttemptRecord(
                    turn_id=f"gone{i}", attempt=1, session_id=None, tier="cheap", model="m",
                    provider="p", status="ok", started_at=1.0, cost_usd=0.5))
        outcome = writer.close()
        assert outcome.spooled == 2 and outcome.spool_file.is_file()
    with open_test_store() as again:  # the next open writes them
        assert sorted(r["turn_id"] for r in again.requests()) == ["gone0", "gone1"]
    with open_test_store() as third:  # and only once
        assert len(third.requests()) == 2
