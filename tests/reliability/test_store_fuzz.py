"""The store round-trips any text exactly, and in privacy mode keeps only hashes.

Prompts, answers, error messages, titles and chat messages with NULs, control characters,
emoji, right-to-left text, combining marks and megabyte strings come back byte for byte.
With ``[privacy] store_prompts = false`` no prompt or answer text reaches any file under
ROUTEDECK_HOME (ledger, -wal, cache), only its sha256.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, sha256
from tests.reliability.helpers import run_cli

pytestmark = pytest.mark.reliability

# Any Unicode scalar value (no lone surrogates: they are not valid text in UTF-8 or SQLite).
any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=2000)
nasty = st.one_of(
    any_text,
    st.text(alphabet="\x00\x01\x1b\x7f\x9b\u200f\u202e\u0301\ufeff\uffff\U0010ffff"
                     "\U0001f468\u200d\U0001f469 \n\r\t'\"\\%_;", max_size=300),
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzzstore")
    full = SQLiteStore.open(root / "full.db")
    hashed = SQLiteStore.open(root / "hashed.db", store_prompts=False)
    yield full, hashed
    full.close()
    hashed.close()


def _rec(prompt: str, answer: str, message: str, extra: dict[str, str]) -> AttemptRecord:
    return AttemptRecord(turn_id="t", attempt=1, session_id=None, tier="cheap", model="m",
                         provider="p", status="error", started_at=1.0, prompt=prompt,
                         answer=answer, error_kind="server", error_message=message,
                         reason=message, extra=extra)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=nasty, answer=nasty, message=nasty,
       extra=st.dictionaries(nasty, nasty, max_size=3), title=nasty)
def test_store_round_trips_any_text(stores, prompt, answer, message, extra, title):
    full, hashed = stores
    rid = full.record_attempt(_rec(prompt, answer, message, extra))
    row = full.request(rid)
    assert row["prompt"] == prompt and row["answer"] == answer
    assert row["error_message"] == message and row["reason"] == message
    assert row["extra"] == extra
    assert row["prompt_sha256"] == sha256(prompt) and row["answer_sha256"] == sha256(answer)
    sid = full.new_session(title)
    full.add_message(sid, "user", prompt)
    full.add_message(sid, "assistant", answer)
    assert full.session(sid)["title"] == title
    assert full.messages(sid) == [{"role": "user", "content": prompt},
                                  {"role": "assistant", "content": answer}]

    hid = hashed.record_attempt(_rec(prompt, answer, message, extra))
    hrow = hashed.request(hid)
    assert hrow["prompt"] is None and hrow["answer"] is None
    assert hrow["prompt_sha256"] == sha256(prompt) and hrow["answer_sha256"] == sha256(answer)
    hsid = hashed.new_session()
    hashed.add_message(hsid, "user", prompt)
    assert hashed.messages(hsid) == []
    assert [r["content_sha256"] for r in hashed.message_rows(hsid)] == [sha256(prompt)]


def test_store_round_trips_huge_strings(tmp_path):
    huge = ("\x00ab\u05d0\U0001f600" * 250_000)  # 1.25 M characters, ~3.5 MB UTF-8
    with SQLiteStore.open(tmp_path / "big.db") as store:
        rid = store.record_attempt(_rec(huge, huge[::-1], huge[:1000], {"k": huge[:5000]}))
        row = store.request(rid)
        assert row["prompt"] == huge and row["answer"] == huge[::-1]
        assert row["extra"] == {"k": huge[:5000]}
    with SQLiteStore.open(tmp_path / "big.db") as again:  # and after reopening the file
        assert again.request(rid)["prompt"] == huge


def test_privacy_mode_keeps_no_text_in_any_file(loopback, loopback_config):
    secret_prompt = "PRIVATE-PROMPT-4711 what is my salary in the payroll system"
    loopback.reply = "PRIVATE-ANSWER-0815 your salary is classified"
    cfg = loopback_config(extra="\n[privacy]\nstore_prompts = false\n")
    res = run_cli("ask", "--json", secret_prompt, config=cfg)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["text"] == loopback.reply
    again = run_cli("ask", "--json", secret_prompt, config=cfg)  # exact-hash cache still works
    assert json.loads(again.stdout)["cached"] is True
    run_cli("export", "--format", "jsonl", "--out", str(cfg.parent / "ledger.jsonl"))
    home = Path(os.environ["ROUTEDECK_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()] + [cfg.parent / "ledger.jsonl"]
    assert any(p.suffix == ".db" for p in files)
    for path in files:
        data = path.read_bytes()
        assert b"PRIVATE-PROMPT-4711" not in data, path
        # The cache must keep the answer to serve it: only the ledger side is checked for it.
        if path.parent.name != "cache":
            assert b"PRIVATE-ANSWER-0815" not in data, path
    from app.core.ledger.store import open_store

    rows = open_store().requests()
    assert [r["prompt"] for r in rows] == [None, None]
    assert rows[0]["prompt_sha256"] == sha256(secret_prompt)
