"""The store on both backends (SQLite and a real PostgreSQL server): schema, round trips,
privacy, who/where, concurrency, migrations; and what only SQLite has (the file, its
pragmas, crash safety of a killed writer)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.config import paths
from app.core.config.settings import Settings
from app.core.ledger.identity import Identity
from app.core.ledger.migrations import MIGRATIONS, SCHEMA_VERSION
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import (
    DB_NAME,
    SQLiteStore,
    StoreError,
    connect,
    migrate,
    open_store,
    record_from_row,
    sha256,
)
from tests.fakes import open_test_store

REPO = Path(__file__).resolve().parents[1]


def rec(turn: str = "t1", attempt: int = 1, session_id: int | None = 1, **kw) -> AttemptRecord:
    base = dict(tier="cheap", model="gpt-4o-mini", provider="openai", status="ok",
                started_at=time.time())
    base.update(kw)
    return AttemptRecord(turn_id=turn, attempt=attempt, session_id=session_id, **base)


@pytest.fixture
def store(backend):
    s = open_test_store()
    assert s.backend == backend
    yield s
    s.close()


def test_default_location_mode_and_schema_version(isolated_home):
    with SQLiteStore.open() as s:
        assert s.path == paths.data_dir() / DB_NAME
        assert str(s.path).startswith(str(isolated_home))
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert s.scalar("PRAGMA journal_mode") == "wal"
        assert s.scalar("PRAGMA busy_timeout") >= 1000
        tables = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"sessions", "messages", "requests", "verdicts"} <= tables
        indices = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"requests_time", "requests_session", "messages_session"} <= indices


def test_open_store_follows_privacy_setting(tmp_path):
    s = open_store(Settings(privacy={"store_prompts": False}), path=tmp_path / "p.db")
    assert s.store_prompts is False
    s.close()


def test_sessions_and_messages_resume_as_history(store):
    a = store.new_session("first")
    b = store.new_session()
    store.add_message(a, "user", "hello")
    rid = store.record_attempt(rec(session_id=a, answer="hi there", cost_usd=0.5))
    store.add_message(a, "assistant", "hi there", request_id=rid)
    assert store.messages(a) == [{"role": "user", "content": "hello"},
                                 {"role": "assistant", "content": "hi there"}]
    assert store.messages(b) == []
    assert store.message_rows(a)[1]["request_id"] == rid
    listed = store.sessions()
    assert [x["id"] for x in listed] == [a, b] or [x["id"] for x in listed] == [b, a]
    first = store.session(a)
    assert (first["title"], first["messages"], first["turns"], first["spent"]) == \
        ("first", 2, 1, 0.5)
    store.set_title(b, "renamed")
    assert store.session(b)["title"] == "renamed"
    assert store.session(999) is None
    assert len(store.sessions(limit=1)) == 1
    with pytest.raises(ValueError):
        store.add_message(a, "robot", "x")


def test_every_attempt_field_round_trips(store):
    full = AttemptRecord(
        turn_id="turn-9", attempt=2, session_id=store.new_session(), tier="premium",
        model="gpt-4o", provider="openai", status="truncated", started_at=1_700_000_000.25,
        prompt="why is the sky blue?", answer="Rayleigh", task_type="factual_qa", score=0.62,
        rule="keyword", reason="keyword 'prove'", forced=True, pinned=True, escalated=True,
        escalation_reason="low logprob", fallback_from="cheap", cache_hit=False,
        error_kind="stream_cut", error_message="stream ended early", input_tokens=123,
        output_tokens=45, cached_input_tokens=20, reasoning_tokens=7, usage_source="provider",
        price_input_per_mtok=2.5, price_output_per_mtok=10.0, price_cached_input_per_mtok=1.25,
        price_source="genai-prices openai/gpt-4o", cost_usd=0.00123, premium_cost_usd=0.00123,
        latency_s=1.5, ttft_s=0.3, decision_us=88.0, extra={"finish_reason": "length"},
    )
    rid = store.record_attempt(full)
    row = store.request(rid)
    assert row["prompt_sha256"] == sha256("why is the sky blue?")
    assert record_from_row(row) == full


def test_rejects_unknown_status_and_verdict(store):
    with pytest.raises(ValueError):
        store.record_attempt(rec(status="weird"))
    rid = store.record_attempt(rec())
    with pytest.raises(ValueError):
        store.add_verdict(rid, rid, "meh")


def test_batch_insert_is_all_or_nothing(store):
    with pytest.raises(ValueError):
        store.record_attempts([rec("a"), rec("b", status="nope")])
    assert store.requests() == []
    ids = store.record_attempts([rec("a"), rec("b")])
    assert [r["id"] for r in store.requests()] == ids


def test_request_queries(store):
    t0 = time.time() - 1000
    for i in range(6):
        store.record_attempt(rec(f"t{i // 2}", attempt=i % 2 + 1, session_id=1 + i % 2,
                                 started_at=t0 + i * 100))
    assert len(store.requests()) == 6
    assert {r["session_id"] for r in store.requests(session_id=2)} == {2}
    assert len(store.requests(since=t0 + 250)) == 3
    assert len(store.requests(until=t0 + 250)) == 3
    assert [r["attempt"] for r in store.requests(turn_id="t1")] == [1, 2]
    newest = store.requests(limit=2, newest_first=True)
    assert [r["started_at"] for r in newest] == [t0 + 500, t0 + 400]
    assert store.requests(session_id=1)[0]["forced"] is False


def test_iteration_pages_through_ties_in_time(store, monkeypatch):
    import app.core.ledger.base as base

    monkeypatch.setattr(base, "_PAGE", 3)
    t0 = 1_700_000_000.0
    ids = [store.record_attempt(rec(f"t{i}", started_at=t0 + i // 4)) for i in range(10)]
    assert [r["id"] for r in store.iter_requests()] == ids
    assert [r["id"] for r in store.iter_requests(newest_first=True)] == ids[::-1]
    assert [r["id"] for r in store.iter_requests(limit=7)] == ids[:7]
    assert [r["id"] for r in store.iter_requests(limit=3)] == ids[:3]


def test_verdicts_default_to_the_answers_session(store):
    sid = store.new_session()
    a = store.record_attempt(rec("t", session_id=sid))
    b = store.record_attempt(rec("t2", session_id=sid, tier="premium", model="gpt-4o"))
    vid = store.add_verdict(a, b, "premium_better", kept_request_id=b)
    (v,) = store.verdicts(session_id=sid)
    assert (v["id"], v["answer_request_id"], v["compared_request_id"], v["verdict"],
            v["kept_request_id"]) == (vid, a, b, "premium_better", b)
    assert store.verdicts(since=time.time() + 60) == []


def test_privacy_mode_keeps_only_hashes(backend, tmp_path):
    with open_test_store(privacy={"store_prompts": False}) as s:
        sid = s.new_session()
        s.add_message(sid, "user", "my secret prompt text")
        rid = s.record_attempt(rec(session_id=sid, prompt="my secret prompt text",
                                   answer="the confidential answer"))
        pair = s.add_compare_pair("my secret prompt text", rid, rid, session_id=sid)
        row = s.request(rid)
        assert row["prompt"] is None and row["answer"] is None
        assert row["prompt_sha256"] == sha256("my secret prompt text")
        assert row["answer_sha256"] == sha256("the confidential answer")
        assert s.message_rows(sid)[0]["content_sha256"] == sha256("my secret prompt text")
        assert s.messages(sid) == []  # nothing to resume with
        assert s.compare_pairs()[0]["id"] == pair and s.compare_pairs()[0]["prompt"] is None
        dump = repr([s.query(f"SELECT * FROM {t}") for t in
                     ("sessions", "messages", "requests", "verdicts", "compare_pairs")])
    assert "secret prompt" not in dump and "confidential" not in dump
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"secret prompt" not in blob and b"confidential" not in blob


def test_two_instances_on_one_database(backend):
    a, b = open_test_store(), open_test_store()
    try:
        for i in range(20):
            (a if i % 2 else b).record_attempt(rec(f"t{i}"))
        assert len(a.requests()) == len(b.requests()) == 20
        sa, sb = a.new_session("a"), b.new_session("b")
        assert sa != sb
    finally:
        a.close()
        b.close()


def test_rows_say_who_wrote_them_and_where(backend):
    alice = open_test_store(store={"user": "alice", "host": "laptop-1"})
    bob = open_test_store(store={"user": "bob", "host": "ci-runner"})
    try:
        sid = alice.new_session("team")
        a = alice.record_attempt(rec("ta", session_id=sid))
        b = bob.record_attempt(rec("tb", session_id=sid, tier="premium", model="gpt-4o"))
        bob.add_verdict(a, b, "tie")
        bob.add_compare_pair("p", a, b, session_id=sid)
        assert (alice.request(a)["user_name"], alice.request(a)["host_name"]) == \
            ("alice", "laptop-1")
        assert (alice.request(b)["user_name"], alice.request(b)["host_name"]) == \
            ("bob", "ci-runner")
        assert alice.session(sid)["user_name"] == "alice"
        assert alice.verdicts()[0]["user_name"] == "bob"
        assert alice.compare_pairs()[0]["host_name"] == "ci-runner"
        uids = [r["uid"] for r in alice.requests()]
        assert len(set(uids)) == 2 and all(len(u) == 32 for u in uids)
    finally:
        alice.close()
        bob.close()
    me = Identity.current()
    assert me.user and me.host  # the default: this process's login and host name


def test_an_insert_whose_uid_is_stored_is_skipped(store):
    sid = store.new_session()
    row = {"created_at": 5.0, "session_id": sid, "role": "user", "content": "hi",
           "content_sha256": sha256("hi"), "request_id": None, "uid": "u-1"}
    first = store.insert_row("messages", row)
    again = store.insert_row("messages", dict(row, content="changed"))
    assert first[1] is True and again == (first[0], False)
    assert [m["content"] for m in store.message_rows(sid)] == ["hi"]
    assert store.counts()["messages"] == 1


_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from app.core.config.settings import Settings
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, Store, open_store
s = SQLiteStore.open({db!r}) if {db!r} else open_store(Settings())
print(s.backend, flush=True)
i = 0
while {limit} == 0 or i < {limit}:
    i += 1
    rid = s.record_attempt(AttemptRecord(
        turn_id="{tag}%d" % i, attempt=1, session_id=None, tier="cheap", model="m",
        provider="p", status="ok", started_at=time.time(), prompt="x" * 500,
        input_tokens=i, output_tokens=i, cost_usd=0.001))
    print(rid, flush=True)
s.close()
"""


def _writer(db: Path | None, tag: str, limit: int = 0) -> subprocess.Popen:
    """A separate process writing attempts one commit each (the engine's way), printing its
    backend and then each committed id. ``db=None``: the store the environment names."""
    code = _WRITER.format(repo=str(REPO), db=str(db) if db else "", tag=tag, limit=limit)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_killed_writer_loses_nothing_committed(tmp_path):
    db = tmp_path / "crash.db"
    SQLiteStore.open(db).close()
    proc = _writer(db, "k")
    assert proc.stdout.readline().strip() == "sqlite"
    reported = []
    deadline = time.monotonic() + 20
    while len(reported) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        reported.append(int(line))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 300
    with SQLiteStore.open(db) as s:
        assert s.integrity_check() == "ok"
        present = {r[0] for r in s.query("SELECT id FROM requests")}
        assert set(reported) <= present
        # At most the attempt in flight is missing: ids are contiguous, none lost in between.
        assert present == set(range(1, max(present) + 1))


def test_two_processes_write_1000_attempts_each_and_lose_none(backend):
    with open_test_store() as s:
        assert s.counts()["requests"] == 0
    start = time.perf_counter()
    procs = [_writer(None, tag, limit=1000) for tag in ("a", "b")]
    ids: list[int] = []
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0
        lines = out.split()
        assert lines[0] == backend
        ids += [int(x) for x in lines[1:]]
    wall = time.perf_counter() - start
    with open_test_store() as s:
        total = s.scalar("SELECT COUNT(*) FROM requests")
        turns = {r["turn_id"] for r in s.query("SELECT turn_id FROM requests")}
        assert s.integrity_check() == "ok"
    print(f"\n{backend}: {total:,} of 2,000 attempts from two processes in {wall:.2f} s")
    assert total == 2000 and len(set(ids)) == 2000
    assert turns == {f"{t}{i}" for t in "ab" for i in range(1, 1001)}


def _old_v1_database(backend: str, tmp_path: Path):
    """A database at schema step 1 with one session, message and request in it."""
    rows = [
        ("INSERT INTO sessions (created_at, title) VALUES (1.0, 'from v1')", ()),
        ("INSERT INTO messages (session_id, role, content, content_sha256, created_at)"
         " VALUES (1, 'user', 'old message', ?, 2.0)", (sha256("old message"),)),
        ("INSERT INTO requests (started_at, session_id, turn_id, attempt, tier, model,"
         " provider, status, input_tokens, output_tokens, cost_usd) VALUES"
         " (3.0, 1, 'old-turn', 1, 'cheap', 'gpt-4o-mini', 'openai', 'ok', 10, 20, 0.5)", ()),
    ]
    if backend == "sqlite":
        paths.data_dir().mkdir(parents=True, exist_ok=True)
        conn = connect(paths.data_dir() / DB_NAME)
        assert migrate(conn, upto=1) == 1
        for sql, params in rows:
            conn.execute(sql, params)
        conn.close()
        return
    import psycopg

    from app.core.ledger import postgres

    with psycopg.connect(os.environ["ROUTEDECK_STORE__URL"], autocommit=True,
                         password=os.environ["ROUTEDECK_PG_PASSWORD"]) as conn:
        assert postgres.migrate(conn, upto=1) == 1
        for sql, params in rows:
            conn.execute(sql.replace("?", "%s"), params)


def test_old_schema_is_upgraded_with_data_intact(backend, tmp_path):
    _old_v1_database(backend, tmp_path)
    with open_test_store() as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.session(1)["title"] == "from v1"
        assert s.messages(1) == [{"role": "user", "content": "old message"}]
        (old,) = s.requests()
        assert (old["turn_id"], old["cost_usd"], old["usage_source"], old["extra"]) == \
            ("old-turn", 0.5, "estimated", {})
        assert len(old["uid"]) == 32 and old["user_name"] == ""  # step 5 gave it an identity
        new = s.record_attempt(rec("new-turn", tier="premium", model="gpt-4o"))
        assert s.add_verdict(old["id"], new, "tie") == 1  # the table step 2 added works
        assert s.request(new)["uid"] != old["uid"]


def test_newer_schema_is_refused(backend, tmp_path):
    open_test_store().close()
    if backend == "sqlite":
        conn = sqlite3.connect(paths.data_dir() / DB_NAME)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
    else:
        with open_test_store() as s:
            s._write("UPDATE routedeck_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer"):
        open_test_store()


def test_not_a_database_is_a_clear_error(backend, tmp_path):
    if backend == "sqlite":
        db = paths.data_dir() / DB_NAME
        db.parent.mkdir(parents=True, exist_ok=True)
        db.write_bytes(b"this is not sqlite" * 100)
    else:
        import psycopg

        with psycopg.connect(os.environ["ROUTEDECK_STORE__URL"], autocommit=True,
                             password=os.environ["ROUTEDECK_PG_PASSWORD"]) as conn:
            conn.execute("CREATE TABLE sessions (id TEXT, someone_elses TEXT)")
    with pytest.raises(StoreError, match="not a usable RouteDeck database"):
        open_test_store()


def test_no_credentials_are_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-be-stored")
    with SQLiteStore.open(tmp_path / "k.db") as s:
        s.record_attempt(rec())
        cols = {r["name"] for r in s.query("PRAGMA table_info(requests)")}
    assert not any("key" in c or "secret" in c or "password" in c for c in cols)
    assert {f.name for f in dataclasses.fields(AttemptRecord)} <= cols
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"sk-test-should-never-be-stored" not in blob


# --- PostgreSQL only --------------------------------------------------------------------------


def test_postgres_schema_matches_sqlite(pg_url, tmp_path):
    with SQLiteStore.open(tmp_path / "a.db") as lite, open_store(_pg_settings(pg_url)) as pg:
        assert pg.backend == "postgresql" and pg.schema_version == SCHEMA_VERSION
        for table in ("sessions", "messages", "requests", "verdicts", "compare_pairs"):
            lite_cols = [r["name"] for r in lite.query(f"PRAGMA table_info({table})")]
            pg_cols = [r["column_name"] for r in pg.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", (table,))]
            assert pg_cols == lite_cols, table
        indexes = {r[0] for r in pg.query("SELECT indexname FROM pg_indexes")}
        assert {"requests_time", "requests_turn", "requests_uid", "verdicts_pair"} <= indexes
        types = {r[0]: r[1] for r in pg.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'requests'")}
        assert types["started_at"] == "double precision" and types["id"] == "bigint"


def _pg_settings(url: str, **kw) -> Settings:
    return Settings(store={"url": url, **kw})


def test_postgres_unreachable_is_a_clear_error_naming_no_password(monkeypatch):
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("ROUTEDECK_PG_PASSWORD", "pw-SENTINEL-never-shown")
    start = time.perf_counter()
    with pytest.raises(StoreError) as err:
        open_store(_pg_settings(f"postgresql://alice@127.0.0.1:{port}/team"))
    assert time.perf_counter() - start < 10
    text = str(err.value)
    assert f"postgresql://alice@127.0.0.1:{port}/team: cannot connect" in text
    assert "SENTINEL" not in text


def test_postgres_wrong_password_is_refused(pg_url, monkeypatch):
    monkeypatch.setenv("ROUTEDECK_PG_PASSWORD", "not-the-password")
    with pytest.raises(StoreError, match="password authentication failed") as err:
        open_store(_pg_settings(pg_url))
    assert "not-the-password" not in str(err.value)


def test_postgres_store_reconnects_after_the_connection_drops(pg_server, pg_url):
    with open_store(_pg_settings(pg_url)) as s:
        first = s.record_attempt(rec("before"))
        with pg_server.admin() as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'routedeck'").fetchall()
        assert killed
        second = s.record_attempt(rec("after"))  # reopened once, then written
        assert second > first
        assert [r["turn_id"] for r in s.requests()] == ["before", "after"]


def test_two_stores_upgrading_one_database_at_once(pg_url):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(_pg_settings(pg_url)), range(4)))
    try:
        assert {s.schema_version for s in stores} == {SCHEMA_VERSION}
        assert stores[0].scalar("SELECT COUNT(*) FROM routedeck_schema") == 1
    finally:
        for s in stores:
            s.close()


def test_empty_sessions_can_be_left_out_of_the_list(store):
    used, empty, named, current = (store.new_session(), store.new_session(),
                                   store.new_session("kept by its name"), store.new_session())
    store.add_message(used, "user", "hello")
    assert {s["id"] for s in store.sessions()} == {used, empty, named, current}
    listed = {s["id"] for s in store.sessions(empty=False, keep=current)}
    assert listed == {used, named, current}
    assert {s["id"] for s in store.sessions(empty=False)} == {used, named}


def test_a_stored_session_keeps_its_offline_prompts_in_order(store):
    from app.core.conversation.stored import stored_turns

    sid = store.new_session()
    store.add_message(sid, "user", "not sent 1")
    store.add_message(sid, "user", "answered")
    store.add_message(sid, "assistant", "the answer")
    store.add_message(sid, "user", "not sent 2")
    turns = stored_turns(store, sid)
    assert [(t.prompt, t.status) for t in turns] == [
        ("not sent 1", "offline"), ("answered", "ok"), ("not sent 2", "offline")]
    assert turns[1].answer.text == "the answer" and turns[0].answer is None
    assert all(t.user_message_id for t in turns)
