"""`routedeck store copy`: a local ledger moves into the team store (a real PostgreSQL server,
or another SQLite file) without losing or doubling a row, however often it runs; and the
same rows give the same report on both backends."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.settings import Settings
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, Store, default_path, open_store

TABLES = ("sessions", "messages", "requests", "verdicts", "compare_pairs")


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def attempt(turn: str, n: int = 1, session_id: int | None = None, **kw) -> AttemptRecord:
    base = dict(tier="cheap", model="gpt-4o-mini", provider="openai", status="ok",
                started_at=time.time() - 100 + n, input_tokens=1000 * n, output_tokens=200,
                cost_usd=0.001 * n, premium_cost_usd=0.01 * n, usage_source="provider",
                price_input_per_mtok=0.15, price_output_per_mtok=0.6, price_source="config",
                prompt=f"prompt of {turn}", answer=f"answer {n}")
    base.update(kw)
    return AttemptRecord(turn_id=turn, attempt=n, session_id=session_id, **base)


def local_ledger(turns: int = 30) -> dict[str, int]:
    """A local ledger in the data dir with some of everything; returns its row counts."""
    with SQLiteStore.open() as s:
        for k in range(3):
            sid = s.new_session(f"session {k}")
            for i in range(turns // 3):
                turn = f"s{k}t{i}"
                s.add_message(sid, "user", f"prompt of {turn}")
                if i % 4 == 0:  # a fallback chain: cheap fails, premium answers
                    s.record_attempt(attempt(turn, 1, sid, status="error",
                                             error_kind="server", output_tokens=0))
                    rid = s.record_attempt(attempt(turn, 2, sid, tier="premium",
                                                   model="gpt-4o", fallback_from="cheap",
                                                   task_type="code"))
                else:
                    rid = s.record_attempt(attempt(turn, 1, sid, task_type="chat"))
                s.add_message(sid, "assistant", f"answer of {turn}", request_id=rid)
            cheap = s.record_attempt(attempt(f"c{k}", 1, sid))
            prem = s.record_attempt(attempt(f"p{k}", 1, sid, tier="premium", model="gpt-4o",
                                            escalated=True))
            s.add_compare_pair("which is better?", cheap, prem, session_id=sid)
            s.add_verdict(cheap, prem, "cheap_enough", kept_request_id=cheap)
        return s.counts()


def _target(kind: str, request, tmp_path) -> str:
    return request.getfixturevalue("pg_url") if kind == "postgresql" else \
        str(tmp_path / "team.db")


def _open(target: str) -> Store:
    if target.startswith("postgresql://"):
        return open_store(Settings(store={"url": target}))
    return SQLiteStore.open(target)


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_copy_twice_gives_the_same_rows(kind, request, tmp_path):
    counts = local_ledger()
    target = _target(kind, request, tmp_path)
    first = json.loads(run("store", "copy", "--to", target, "--json").output)
    assert first["target_counts"] == counts
    assert {t: v["copied"] for t, v in first["tables"].items()} == counts
    second = json.loads(run("store", "copy", "--to", target, "--json").output)
    assert second["target_counts"] == counts  # nothing doubled
    assert second["copied"] == 0
    assert {t: v["present"] for t, v in second["tables"].items()} == counts
    text = run("store", "copy", "--to", target).output
    assert "nothing new: every row was already in the target" in text
    print(f"\nstore copy -> {kind}: run 1 {first['target_counts']}, "
          f"run 2 {second['target_counts']}")

    # Links were re-pointed through the target's own ids: each message's request and each
    # verdict's answers are the same rows (same uid) as in the source.
    with SQLiteStore.open() as src, _open(target) as dst:
        def by_uid(store: Store, table: str) -> dict[str, dict]:
            return {r["uid"]: dict(r) for r in store.query(f"SELECT * FROM {table}")}

        src_req, dst_req = by_uid(src, "requests"), by_uid(dst, "requests")
        src_uid = {r["id"]: u for u, r in src_req.items()}
        dst_uid = {r["id"]: u for u, r in dst_req.items()}
        assert set(src_req) == set(dst_req)
        for table, cols in (("messages", ("request_id",)),
                            ("verdicts", ("answer_request_id", "compared_request_id",
                                          "kept_request_id")),
                            ("compare_pairs", ("answer_request_id", "compared_request_id"))):
            src_rows, dst_rows = by_uid(src, table), by_uid(dst, table)
            assert set(src_rows) == set(dst_rows)
            for uid, row in src_rows.items():
                for col in cols:
                    want = src_uid.get(row[col]) if row[col] is not None else None
                    got = dst_uid.get(dst_rows[uid][col]) if dst_rows[uid][col] else None
                    assert got == want, (table, col)
        for uid, row in src_req.items():
            same = {k: row[k] for k in row if k not in ("id", "session_id")}
            assert {k: dst_req[uid][k] for k in same} == same  # times, costs, who/where
        assert {r["title"] for r in dst.sessions()} == {"session 0", "session 1", "session 2"}


def test_new_local_rows_are_copied_on_the_next_run(pg_url):
    counts = local_ledger(turns=6)
    run("store", "copy", "--to", pg_url)
    with SQLiteStore.open() as s:
        sid = s.new_session("later")
        s.record_attempt(attempt("late", 1, sid))
    again = json.loads(run("store", "copy", "--to", pg_url, "--json").output)
    assert again["tables"]["sessions"]["copied"] == 1
    assert again["tables"]["requests"]["copied"] == 1
    assert again["target_counts"]["requests"] == counts["requests"] + 1


def test_rows_from_before_who_and_where_get_the_copying_identity(pg_url, monkeypatch):
    local_ledger(turns=3)
    with SQLiteStore.open() as s:  # as if written before migration 5 recorded who and where
        s._write("UPDATE requests SET user_name = '', host_name = ''", ())
    monkeypatch.setenv("ROUTEDECK_STORE__USER", "alice")
    monkeypatch.setenv("ROUTEDECK_STORE__HOST", "alice-laptop")
    run("store", "copy", "--to", pg_url)
    with _open(pg_url) as dst:
        who = {(r["user_name"], r["host_name"]) for r in dst.requests()}
    assert who == {("alice", "alice-laptop")}


def test_same_rows_same_report_on_both_backends(pg_url):
    local_ledger()
    run("store", "copy", "--to", pg_url)
    for args in (("--json",), ("--json", "--by", "user"), ("--json", "--by", "tier"),
                 ("--json", "--by", "task"), ("--json", "--by", "host"),
                 ("--json", "--by", "model")):
        lite = json.loads(run("report", *args).output)
        team = json.loads(CliRunner(env={"ROUTEDECK_STORE__URL": pg_url}).invoke(
            cli, ["report", *args], catch_exceptions=False).output)
        assert lite["scope"].pop("store") == str(default_path())
        assert team["scope"].pop("store") == pg_url
        lite.pop("generated_at"), team.pop("generated_at")  # when each report was made
        assert _rounded(team) == _rounded(lite), args
    assert set(lite["by"]) == {"gpt-4o", "gpt-4o-mini"}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_copy_refuses_a_password_in_the_url_without_echoing_it(pg_url):
    local_ledger(turns=3)
    bad = pg_url.replace("postgres@", "postgres:hunter2-SENTINEL@")
    res = run("store", "copy", "--to", bad, code=1)
    assert "must not hold a password" in res.output and "SENTINEL" not in res.output
    assert "ROUTEDECK_PG_PASSWORD" in res.output


def test_copy_needs_a_target_and_a_local_ledger(tmp_path):
    assert "--to postgresql://" in run("store", "copy", code=1).output
    res = run("store", "copy", "--to", str(tmp_path / "x.db"), code=1)
    assert "no local ledger" in res.output
    assert not (tmp_path / "x.db").exists()


def test_store_info_on_both_backends(backend):
    with open_store(Settings()) as s:
        s.new_session("x")
    data = json.loads(run("store", "info", "--json").output)
    assert data["backend"] == backend and data["rows"]["sessions"] == 1
    text = run("store", "info").output
    assert f"backend   {backend}" in text and "sessions" in text
