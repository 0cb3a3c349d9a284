"""Hostile and odd servers, through ``ask`` (text and ``--json``), ``compare`` and the console.

Each server misbehaves on the wire, against the real SDK and the real engine: content that
is a number or an object, lone surrogates, every legal SSE field, usage of 10^15 tokens or
beyond SQLite's integer range, an error event mid-stream. What must hold: no traceback, the
documented status, one ledger row per attempt (always written), exact text where the text
was fine.

The resource cases (an endless line, endless empty deltas, endless text, a trickle that
never ends, gzip bombs, a one-byte drip) run ``routedeck ask`` as a child process and
measure it: its peak memory stays under 300 MB and each attempt ends within 1 s of its
deadline (``total_timeout_s = 4``, first token 2 s).
"""

from __future__ import annotations

import json

import pytest

from app.core.config.loader import load_settings
from tests.loopback_server import Fault, config_toml, sse_chunk
from tests.reliability.disks import measured
from tests.reliability.helpers import ErrorServer, ledger_rows, run_cli
from tests.tui.helpers import make_app, send, wait_for

pytestmark = pytest.mark.reliability

DONE = "data: [DONE]\n\n"
SIZE = (150, 44)
MAX_MB = 300
SLACK_S = 1.0


def raw(*parts: str) -> Fault:
    return Fault.raw("".join(parts))


def answer(text: str, usage: dict | None = None) -> Fault:
    tail = sse_chunk(usage=usage) if usage is not None else ""
    return raw(sse_chunk(text), sse_chunk(None, "stop"), tail, DONE)


NOT_TEXT = {
    "number": (42, "a JSON number"),
    "object": ({"text": "hi"}, "a JSON object"),
    "array": (["hi"], "a JSON array"),
    "boolean": (True, "a JSON boolean"),
}


@pytest.mark.parametrize("kind", sorted(NOT_TEXT))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_ask_non_text_content_is_a_failed_attempt_with_a_row(kind, as_json, loopback,
                                                             loopback_config):
    value, words = NOT_TEXT[kind]
    loopback.fail_always(raw(sse_chunk("Hello"), sse_chunk(value), sse_chunk(None, "stop"),
                             DONE), model="cheap-model")
    res = run_cli("ask", *(["--json"] if as_json else []), "hello there",
                  config=loopback_config(max_retries=0, cache=False))
    assert "Traceback" not in res.stdout + res.stderr
    assert res.exit_code == 0, res.stderr  # the mid tier answered
    rows = ledger_rows()
    assert [(r["tier"], r["status"], r["error_kind"]) for r in rows] == [
        ("cheap", "error", "bad_response"), ("mid", "ok", None)]
    assert words in rows[0]["error_message"] and rows[0]["answer"] == "Hello"
    if as_json:
        out = json.loads(res.stdout)
        assert out["text"] == loopback.reply and out["fallback_from"] == "cheap"
        assert out["request_ids"] == [r["id"] for r in rows]
    else:
        assert res.stdout == loopback.reply + "\n"
        assert words in res.stderr


def test_ask_non_text_content_everywhere_fails_cleanly(loopback, loopback_config):
    loopback.fail_always(raw(sse_chunk({"nested": [1, 2]}), sse_chunk(None, "stop"), DONE))
    res = run_cli("ask", "hello there", config=loopback_config(max_retries=0, cache=False))
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert res.stderr.splitlines()[-1].startswith("error: ")
    assert "a JSON object instead of text" in res.stderr
    assert [(r["status"], r["error_kind"]) for r in ledger_rows()] == \
        [("error", "bad_response")] * 3


EVERY_FIELD = (
    "retry: 3000\n\n"  # a block with no data: nothing to dispatch
    ": a comment, then a keep-alive event with no data\n"
    "event: ping\n\n"
    "id: 1\nevent: message\n" + sse_chunk("Hello").replace("\n\n", "\r\n\r\n")
    + "id: 2\r" + sse_chunk(" wide").replace("\n\n", "\r\r")
    + "event: ping\ndata: {}\n\n"
    + "data\n\n"  # a field with no colon: an empty data line
    + "id\n" + "unknown: field\n" + sse_chunk(" world") + sse_chunk(None, "stop")
    + ":\n" + DONE)
HUGE_USAGE = {"prompt_tokens": 10**15, "completion_tokens": 10**15}

LONE = "\ud800"
PAIR = "\ud83d\ude00"  # a surrogate pair as two code points: one emoji


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_lone_surrogates_in_answers_and_prompts_are_replaced_not_fatal(as_json, loopback,
                                                                       loopback_config):
    loopback.fail_always(answer(f"a{LONE}b{PAIR}c"))
    cfg = loopback_config()
    prompt = f"why {LONE} and \udcff?"  # \udcff: a byte that was not UTF-8 on the command line
    for _ in range(2):  # the second is a cache hit: the cache keys and stores them too
        res = run_cli("ask", *(["--json"] if as_json else []), prompt, config=cfg)
        assert res.exit_code == 0, res.stderr
        text = json.loads(res.stdout)["text"] if as_json else res.stdout.rstrip("\n")
        assert text == "a\ufffdb\U0001F600c"
    rows = ledger_rows()
    assert [r["cache_hit"] for r in rows] == [False, True]
    assert rows[0]["prompt"] == "why \ufffd and \ufffd?"
    assert rows[0]["answer"] == "a\ufffdb\U0001F600c"
    out = run_cli("export")  # and every export of them is valid UTF-8 JSON
    assert [json.loads(line)["answer"] for line in out.stdout.splitlines()][0] == rows[0]["answer"]


def test_a_prompt_on_stdin_that_is_not_utf8_is_sent_cleaned(loopback, loopback_config):
    res = run_cli("ask", "--json", config=loopback_config(cache=False),
                  input=b"caf\xe9 \xff and \xed\xa0\x80 (a UTF-8-encoded surrogate)\n")
    assert res.exit_code == 0, res.stderr
    sent = loopback.bodies()[-1]["messages"][-1]["content"]
    assert sent.startswith("caf\ufffd \ufffd and ")
    assert not any("\ud800" <= c <= "\udfff" for c in sent)
    assert ledger_rows()[0]["prompt"] == sent


def test_surrogates_in_input_rows_audit_and_compare(loopback, loopback_config, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": f"id-{LONE}", "prompt": f"hello {LONE} there"}) + "\n"
                    + json.dumps({"id": 2, "prompt": "and a second one"}) + "\n",
                    encoding="utf-8")
    cfg = loopback_config(cache=False)
    res = run_cli("audit", "--json", str(rows), config=cfg)
    assert res.exit_code == 0, res.stderr
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["id-\ufffd", "2"]
    loopback.fail_always(answer(f"x{LONE}y"))
    res = run_cli("compare", "-y", str(rows), config=cfg)
    assert res.exit_code == 0 and "Traceback" not in res.stderr
    assert "stored 2 of 2 pair(s)" in res.stdout
    assert {r["prompt"] for r in ledger_rows()} == {"hello \ufffd there", "and a second one"}


def test_every_legal_sse_field_is_accepted(loopback, loopback_config):
    body = EVERY_FIELD
    loopback.fail_always(raw(body))
    res = run_cli("ask", "--json", "hello there", config=loopback_config(cache=False))
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["text"] == "Hello wide world"
    assert [r["status"] for r in ledger_rows()] == ["ok"]


def test_an_error_event_mid_stream_is_a_server_error(loopback, loopback_config):
    loopback.fail_always(raw(sse_chunk("Hel"), 'event: error\ndata: {"error": {"message": '
                             '"overloaded, try later"}}\n\n'), model="cheap-model")
    res = run_cli("ask", "--json", "hello there",
                  config=loopback_config(max_retries=0, cache=False))
    assert res.exit_code == 0
    rows = ledger_rows()
    assert (rows[0]["error_kind"], rows[1]["status"]) == ("server", "ok")
    assert "overloaded, try later" in rows[0]["error_message"]


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": 10**15, "completion_tokens": 10**15},
    {"prompt_tokens": 2**70, "completion_tokens": 5},
    {"prompt_tokens": 7, "completion_tokens": 2**64,
     "completion_tokens_details": {"reasoning_tokens": 2**80}},
], ids=["1e15", "beyond-int64-prompt", "beyond-int64-completion"])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_implausible_usage_is_estimated_with_a_warning_and_the_row_kept(usage, as_json,
                                                                        loopback,
                                                                        loopback_config):
    loopback.fail_always(answer("Hello", usage))
    res = run_cli("ask", *(["--json"] if as_json else []), "hello there",
                  config=loopback_config(cache=False))
    assert res.exit_code == 0, res.stderr
    [row] = ledger_rows()
    assert row["status"] == "ok" and row["usage_source"] == "estimated"
    assert row["input_tokens"] < 1000 and row["output_tokens"] < 1000
    assert row["cost_usd"] < 0.001
    assert "cannot be right" in row["extra"]["usage_warning"]
    if as_json:
        out = json.loads(res.stdout)
        assert any("cannot be right" in n for n in out["notes"])
        assert out["cost_usd"] < 0.001 and out["usage"]["source"] == "estimated"
    else:
        assert "warning: " in res.stderr and "cannot be right" in res.stderr


def test_plausible_large_usage_is_believed(loopback, loopback_config):
    loopback.fail_always(answer("Hello", {"prompt_tokens": 150_000, "completion_tokens": 900}))
    res = run_cli("ask", "--json", "hello there", config=loopback_config(cache=False))
    out = json.loads(res.stdout)
    assert out["usage"]["source"] == "provider" and out["notes"] == []
    assert ledger_rows()[0]["input_tokens"] == 150_000


def test_compare_with_a_hostile_cheap_tier_stores_no_pair(loopback, loopback_config, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("first question\nsecond question\n", encoding="utf-8")
    loopback.fail_always(raw(sse_chunk(7), sse_chunk(None, "stop"), DONE), model="cheap-model")
    cfg = loopback_config(max_retries=0, cache=False)
    res = run_cli("compare", "-y", str(prompts), config=cfg)
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert "stored 0 of 2 pair(s)" in res.stdout and "a JSON number" in res.stderr
    rows = ledger_rows()
    # Never a fallback: every cheap row is a cheap failure, every premium row premium.
    assert sorted((r["tier"], r["status"]) for r in rows) == \
        [("cheap", "error"), ("cheap", "error"), ("premium", "ok"), ("premium", "ok")]
    assert all(r["fallback_from"] is None for r in rows)
    labels = run_cli("export", "--labels", config=cfg)
    assert labels.exit_code == 0 and labels.stdout == ""
    from app.core.ledger.store import open_store

    with open_store() as store:
        assert store.compare_pairs() == []


@pytest.mark.parametrize("case", ["every-sse-field", "usage-1e15", "surrogates"])
def test_compare_through_odd_servers_stores_true_pairs(case, loopback, loopback_config,
                                                       tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("first question\n", encoding="utf-8")
    fault = {"every-sse-field": raw(EVERY_FIELD), "usage-1e15": answer("Hi", HUGE_USAGE),
             "surrogates": answer(f"x{LONE}y")}[case]
    loopback.fail_always(fault)
    res = run_cli("compare", "-y", str(prompts), config=loopback_config(cache=False))
    assert res.exit_code == 0 and "Traceback" not in res.stderr
    assert "stored 1 of 1 pair(s)" in res.stdout
    rows = ledger_rows()
    assert sorted((r["tier"], r["status"]) for r in rows) == [("cheap", "ok"), ("premium", "ok")]
    if case == "usage-1e15":
        assert all(r["usage_source"] == "estimated" and r["cost_usd"] < 0.01 for r in rows)


async def test_console_survives_hostile_content(loopback, loopback_config):
    from app.tui.widgets.chat import AnswerView, Notice

    app = make_app(load_settings(loopback_config(max_retries=0, cache=False)))
    async with app.run_test(size=SIZE) as pilot:
        loopback.fail_always(raw(sse_chunk({"a": 1}), sse_chunk(None, "stop"), DONE))
        await send(pilot, "hello there")
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        errors = [str(n.render()) for n in app.query(Notice) if n.has_class("-error")]
        assert len(errors) == 1 and "a JSON object instead of text" in errors[0]
        loopback.fail_always(answer(f"fine {LONE} text"))
        await send(pilot, f"second {LONE} prompt")
        await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running)
        assert list(app.query(AnswerView))[-1].text == "fine \ufffd text"
        loopback.fail_always(Fault.endless("line"))
        await send(pilot, "third")
        await wait_for(pilot, lambda: len(app.session.conversation) == 3 and not app.running)
        loopback.fail_always(raw(EVERY_FIELD))
        await send(pilot, "fourth")
        await wait_for(pilot, lambda: len(app.session.conversation) == 4 and not app.running)
        assert list(app.query(AnswerView))[-1].text == "Hello wide world"
        loopback.fail_always(answer("Priced", HUGE_USAGE))
        await send(pilot, "fifth")
        await wait_for(pilot, lambda: len(app.session.conversation) == 5 and not app.running)
        told = " ".join(str(n.message) for n in app._notifications)
        assert "cannot be right" in told
        rows = app.session.store().requests()
        assert [r["error_kind"] for r in rows] == ["bad_response"] * 3 + [None] + \
            ["bad_response"] * 3 + [None, None]
        assert rows[3]["prompt"] == "second \ufffd prompt"
        assert rows[-1]["usage_source"] == "estimated" and rows[-1]["cost_usd"] < 0.01
        app.export_screenshot()  # the whole screen still renders


# --- resources: memory and deadlines, measured on a real process ----------------------
DEADLINE = {"total_timeout_s": 4.0, "first_token_timeout_s": 2.0}
STREAMS = [
    # (id, fault, what ends it: a deadline, a bound on the stream, or the answer's cap)
    ("endless-line", Fault.endless("line"), "bad_response"),
    ("endless-deltas", Fault.endless("deltas"), "bad_response"),
    ("endless-text", Fault.endless("text"), "length"),
    ("trickle-forever", Fault.endless("trickle"), "total_timeout_s"),
    ("gzip-bomb-newlines", Fault.gzip_bomb(256 << 20, "newlines"), "bad_response"),
    ("gzip-bomb-one-line", Fault.gzip_bomb(256 << 20, "line"), "bad_response"),
    ("gzip-bomb-comment", Fault.gzip_bomb(256 << 20, "comment"), "bad_response"),
    ("drip-one-byte-per-second", Fault.drip(1.0), "first_token_timeout_s"),
]
MEASURED: dict[str, tuple[float, float, float]] = {}  # id -> (peak MB, attempt s, overrun s)


@pytest.mark.parametrize("case, fault, ends", STREAMS, ids=[s[0] for s in STREAMS])
def test_hostile_streams_keep_memory_bounded_and_deadlines(case, fault, ends, loopback,
                                                           tmp_path, record_property):
    cfg = tmp_path / "hostile.toml"
    cfg.write_text(config_toml(loopback.base_url, max_retries=0, cache=False, **DEADLINE),
                   encoding="utf-8")
    loopback.fail_always(fault)
    # The top tier: nothing to fall back to, so one attempt is measured.
    run = measured(["--config", str(cfg), "ask", "--json", "--tier", "premium", "hi"],
                   tmp_path / "home", timeout=30)
    assert "Traceback" not in run.stderr, run.stderr
    out = json.loads(run.stdout)
    [attempt] = out["attempts"]
    deadline = ends if ends in DEADLINE else None
    if ends == "length":  # cut at the tier's cap: an answer that stands, marked as cut
        assert (run.code, out["status"], out["finish_reason"]) == (0, "truncated", "length")
        assert len(out["text"]) <= 4096 * 8
    else:
        assert run.code == 1 and out["status"] == "error", out["message"]
        kinds = {"timeout" if deadline else ends}
        if case.startswith("gzip-bomb"):
            # Inflating 256 MB may take longer than the first-token deadline on a slow
            # machine: then that deadline ends the attempt before the stream's bound does.
            kinds.add("timeout")
        assert attempt["error_kind"] in kinds, attempt["message"]
        assert len(attempt["partial_text"]) <= 4096 * 8  # the partial text is capped
    limit = DEADLINE[deadline] if deadline else DEADLINE["total_timeout_s"]
    latency = out["latency_s"]
    MEASURED[case] = (run.peak_mb, latency, latency - limit)
    record_property("peak_mb", round(run.peak_mb))
    record_property("attempt_s", round(latency, 2))
    assert run.peak_mb < MAX_MB, f"{case}: {run.peak_mb:.0f} MB"
    assert latency <= limit + SLACK_S, f"{case}: {latency:.2f} s for a {limit:g} s deadline"
    if deadline:
        assert latency >= limit - 0.2  # the deadline, not something sooner, ended it
    assert [r["status"] for r in ledger_rows_at(tmp_path / "home")] == \
        ["truncated" if ends == "length" else "error"]


def ledger_rows_at(home) -> list[dict]:
    from app.core.ledger.store import SQLiteStore

    with SQLiteStore.open(home / "data" / "routedeck.db") as store:
        return store.requests()


def test_a_gzip_bombed_error_body_is_cut_not_inflated(tmp_path):
    with ErrorServer(500, "unused", gzip_bomb=512 << 20) as server:
        cfg = tmp_path / "bomb.toml"
        cfg.write_text(config_toml(server.base_url, max_retries=0, cache=False, **DEADLINE),
                       encoding="utf-8")
        run = measured(["--config", str(cfg), "ask", "--json", "--tier", "premium", "hi"],
                       tmp_path / "home", timeout=30)
    assert "Traceback" not in run.stderr, run.stderr
    out = json.loads(run.stdout)
    MEASURED["gzip-bombed-500-body"] = (run.peak_mb, out["latency_s"], 0.0)
    assert run.code == 1 and out["attempts"][0]["error_kind"] == "server"
    assert run.peak_mb < MAX_MB, f"{run.peak_mb:.0f} MB"
    assert out["latency_s"] < DEADLINE["first_token_timeout_s"] + SLACK_S
