"""The SQLite store: schema, round trips, privacy, concurrency, crash safety, migrations."""

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
from app.core.ledger.migrations import MIGRATIONS, SCHEMA_VERSION
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import (
    DB_NAME,
    Store,
    StoreError,
    connect,
    migrate,
    open_store,
    record_from_row,
    sha256,
)

REPO = Path(__file__).resolve().parents[1]


def rec(turn: str = "t1", attempt: int = 1, session_id: int | None = 1, **kw) -> AttemptRecord:
    base = dict(tier="cheap", model="gpt-4o-mini", provider="openai", status="ok",
                started_at=time.time())
    base.update(kw)
    return AttemptRecord(turn_id=turn, attempt=attempt, session_id=session_id, **base)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.db")
    yield s
    s.close()


def test_default_location_mode_and_schema_version(isolated_home):
    with Store.open() as s:
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
    import app.core.ledger.store as store_mod

    monkeypatch.setattr(store_mod, "_PAGE", 3)
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


def test_privacy_mode_keeps_only_hashes(tmp_path):
    db = tmp_path / "private.db"
    with Store.open(db, store_prompts=False) as s:
        sid = s.new_session()
        s.add_message(sid, "user", "my secret prompt text")
        rid = s.record_attempt(rec(session_id=sid, prompt="my secret prompt text",
                                   answer="the confidential answer"))
        row = s.request(rid)
        assert row["prompt"] is None and row["answer"] is None
        assert row["prompt_sha256"] == sha256("my secret prompt text")
        assert row["answer_sha256"] == sha256("the confidential answer")
        assert s.message_rows(sid)[0]["content_sha256"] == sha256("my secret prompt text")
        assert s.messages(sid) == []  # nothing to resume with
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"secret prompt" not in blob and b"confidential" not in blob


def test_two_instances_on_one_database(tmp_path):
    db = tmp_path / "shared.db"
    a, b = Store.open(db), Store.open(db)
    try:
        for i in range(20):
            (a if i % 2 else b).record_attempt(rec(f"t{i}"))
        assert len(a.requests()) == len(b.requests()) == 20
        sa, sb = a.new_session("a"), b.new_session("b")
        assert sa != sb
    finally:
        a.close()
        b.close()


_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import Store
s = Store.open({db!r})
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


def _writer(db: Path, tag: str, limit: int = 0) -> subprocess.Popen:
    code = _WRITER.format(repo=str(REPO), db=str(db), tag=tag, limit=limit)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_killed_writer_loses_nothing_committed(tmp_path):
    db = tmp_path / "crash.db"
    Store.open(db).close()
    proc = _writer(db, "k")
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
    with Store.open(db) as s:
        assert s.integrity_check() == "ok"
        present = {r[0] for r in s.query("SELECT id FROM requests")}
        assert set(reported) <= present
        # At most the attempt in flight is missing: ids are contiguous, none lost in between.
        assert present == set(range(1, max(present) + 1))


def test_two_processes_write_concurrently(tmp_path):
    db = tmp_path / "multi.db"
    Store.open(db).close()
    procs = [_writer(db, tag, limit=150) for tag in ("a", "b")]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        assert len(out.split()) == 150
    with Store.open(db) as s:
        assert s.scalar("SELECT COUNT(*) FROM requests") == 300
        assert s.integrity_check() == "ok"


def test_old_schema_is_upgraded_with_data_intact(tmp_path):
    db = tmp_path / "old.db"
    conn = connect(db)
    assert migrate(conn, upto=1) == 1
    conn.execute("INSERT INTO sessions (created_at, title) VALUES (1.0, 'from v1')")
    conn.execute("INSERT INTO messages (session_id, role, content, content_sha256, created_at)"
                 " VALUES (1, 'user', 'old message', ?, 2.0)", (sha256("old message"),))
    conn.execute("INSERT INTO requests (started_at, session_id, turn_id, attempt, tier, model,"
                 " provider, status, input_tokens, output_tokens, cost_usd) VALUES"
                 " (3.0, 1, 'old-turn', 1, 'cheap', 'gpt-4o-mini', 'openai', 'ok', 10, 20, 0.5)")
    conn.close()
    with Store.open(db) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.session(1)["title"] == "from v1"
        assert s.messages(1) == [{"role": "user", "content": "old message"}]
        (old,) = s.requests()
        assert (old["turn_id"], old["cost_usd"], old["usage_source"], old["extra"]) == \
            ("old-turn", 0.5, "estimated", {})
        new = s.record_attempt(rec("new-turn", tier="premium", model="gpt-4o"))
        assert s.add_verdict(old["id"], new, "tie") == 1  # the table step 2 added works
        idx = {r[0] for r in s.query("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "requests_turn" in idx


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "future.db"
    Store.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(db)


def test_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable RouteDeck database"):
        Store.open(db)


def test_no_credentials_are_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-be-stored")
    with Store.open(tmp_path / "k.db") as s:
        s.record_attempt(rec())
        cols = {r["name"] for r in s.query("PRAGMA table_info(requests)")}
    assert not any("key" in c or "secret" in c for c in cols)
    assert {f.name for f in dataclasses.fields(AttemptRecord)} <= cols
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"sk-test-should-never-be-stored" not in blob
