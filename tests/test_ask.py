"""`routedeck ask` against the loopback server: streamed text + summary line, --json, stdin,
--tier, cache, fallback notes, exit 2 without credentials, exit 1 on errors, 130 on Ctrl+C,
and every attempt recorded in the ledger store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli
from tests.fakes import ledger_rows
from tests.loopback_server import Fault

ROOT = Path(__file__).resolve().parent.parent


def ask(config: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--config", str(config), "ask", *args], input=input,
                              catch_exceptions=False)



def test_text_mode_streams_answer_and_summary(loopback, loopback_config):
    res = ask(loopback_config(), "hello there")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == loopback.reply + "\n"
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("[cheap") and "cheap-model via loop" in line
    assert "tokens (provider)" in line and "$" in line and " s" in line
    rows = ledger_rows()
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["tier"] == "cheap"


def test_json_mode_prints_one_object(loopback, loopback_config):
    res = ask(loopback_config(), "--json", "--tier", "premium", "hello there")
    assert res.exit_code == 0, res.stderr
    obj = json.loads(res.stdout)
    assert obj["status"] == "ok" and obj["text"] == loopback.reply
    assert (obj["tier"], obj["model"], obj["provider"]) == ("premium", "premium-model", "loop")
    assert obj["usage"]["source"] == "provider" and obj["usage"]["output_tokens"] > 0
    assert obj["cost_usd"] > 0 and obj["latency_s"] > 0 and obj["ttft_s"] is not None
    assert obj["decision"]["rule"] == "forced" and len(obj["attempts"]) == 1
    assert obj["request_ids"] == [rows["id"] for rows in ledger_rows()]


def test_prompt_from_stdin_and_history_free_request(loopback, loopback_config):
    res = ask(loopback_config(), input="hello from stdin\n")
    assert res.exit_code == 0
    assert loopback.bodies()[-1]["messages"] == [{"role": "user", "content": "hello from stdin\n"}]


def test_cache_hit_and_no_cache(loopback, loopback_config):
    cfg = loopback_config()
    ask(cfg, "hello there")
    res = ask(cfg, "--json", "hello there")
    obj = json.loads(res.stdout)
    assert obj["cached"] and obj["cost_usd"] == 0 and obj["cache"]["saved_usd"] > 0
    assert len(loopback.bodies()) == 1
    # A cache hit used no tokens: it is not "estimated usage" in the report.
    report = json.loads(CliRunner().invoke(cli, ["--config", str(cfg), "report",
                                                 "--json"]).stdout)
    assert report["cache_hits"] == 1 and report["estimated"] == 0
    res = ask(cfg, "--json", "--no-cache", "hello there")
    assert not json.loads(res.stdout)["cached"] and len(loopback.bodies()) == 2


def test_budgets_never_stop_an_answer_the_cache_holds_and_downgrades_are_said(
        loopback, loopback_config, monkeypatch):
    cfg = loopback_config()
    ask(cfg, "hello there")  # answered, and cached
    monkeypatch.setenv("ROUTEDECK_BUDGET__DAILY_USD", "0.0000001")
    monkeypatch.setenv("ROUTEDECK_BUDGET__ACTION", "block")
    cached = ask(cfg, "hello there")
    assert cached.exit_code == 0, cached.stderr  # $0: nothing for the cap to stop
    assert cached.stdout == loopback.reply + "\n" and "cache hit" in cached.stderr
    fresh = ask(cfg, "a new question for the model")
    assert fresh.exit_code == 1 and "blocked" in fresh.stderr
    assert len(loopback.bodies()) == 1
    # "downgrade" near the cap: the cheaper answer comes with the reason.
    monkeypatch.setenv("ROUTEDECK_BUDGET__DAILY_USD", "1000")
    monkeypatch.setenv("ROUTEDECK_BUDGET__ACTION", "downgrade")
    monkeypatch.setenv("ROUTEDECK_BUDGET__ACT_AT_FRACTION", "0.0000001")
    res = ask(cfg, "--no-cache", "Prove that there are infinitely many primes, step by step")
    assert res.exit_code == 0, res.stderr
    assert "note: daily budget" in res.stderr and "staying on the cheapest tier" in res.stderr


def test_fallback_is_reported_and_recorded(loopback, loopback_config):
    loopback.fail_next(Fault.http(500), Fault.http(500), model="cheap-model")
    res = ask(loopback_config(), "hello there")
    assert res.exit_code == 0
    assert res.stdout == loopback.reply + "\n"
    assert res.stderr.count("! attempt") == 2 and "fell back from cheap" in res.stderr
    # Each next step is said as it happens: a retry on cheap, then the fallback to mid.
    assert "! retrying cheap (cheap-model), attempt 2" in res.stderr
    assert "! falling back to mid (mid-model), attempt 3" in res.stderr
    assert "trying again" not in res.stderr
    assert [(r["tier"], r["status"]) for r in ledger_rows()] == [
        ("cheap", "error"), ("cheap", "error"), ("mid", "ok")]


def test_cut_stream_marks_partial_text_incomplete(loopback, loopback_config):
    loopback.fail_next(Fault.cut(2))
    res = ask(loopback_config(), "hello there")
    assert res.exit_code == 0
    # Into a pipe only the answer that stands is written; the cut attempt goes to stderr.
    assert res.stdout == loopback.reply + "\n"
    assert "attempt 1 failed after 10 characters: 'Hello from'" in res.stderr
    live = ask(loopback_config(), "--stream", "--no-cache", "hello there")
    assert live.stdout == loopback.reply + "\n"  # no fault this time: streamed as it came
    loopback.fail_next(Fault.cut(2))
    live = ask(loopback_config(), "--stream", "--no-cache", "hello there")
    assert live.stdout == "Hello from\n" + loopback.reply + "\n"
    assert "the text above is incomplete" in live.stderr


def test_errors_exit_1_with_readable_message(loopback, loopback_config):
    loopback.fail_always(Fault.http(404))
    res = ask(loopback_config(), "hello there")
    assert res.exit_code == 1
    assert "check the model name in [[tiers]]" in res.stderr and "Traceback" not in res.stderr
    res = ask(loopback_config(), "--json", "hello there")
    assert res.exit_code == 1 and json.loads(res.stdout)["status"] == "error"


def test_no_credentials_exit_2_names_env_var(loopback, loopback_config):
    res = ask(loopback_config(key_env="RD_ASK_KEY"), "hello there")
    assert res.exit_code == 2
    assert "RD_ASK_KEY" in res.stderr and "Ollama" in res.stderr
    assert res.stdout == "" and loopback.bodies() == []


def test_key_from_env_is_used_and_never_printed(loopback, loopback_config, monkeypatch):
    monkeypatch.setenv("RD_ASK_KEY", "sk-ask-secret-0123456789")
    res = ask(loopback_config(key_env="RD_ASK_KEY"), "--json", "hello there")
    assert res.exit_code == 0
    assert loopback.requests[-1].headers["authorization"] == "Bearer sk-ask-secret-0123456789"
    loopback.fail_always(Fault.http(401))
    res = ask(loopback_config(key_env="RD_ASK_KEY"), "--json", "--no-cache", "hello there")
    assert res.exit_code == 1
    assert "secret" not in res.stdout + res.stderr and "RD_ASK_KEY" in res.stderr


def test_bad_usage(loopback, loopback_config):
    res = ask(loopback_config(), "--tier", "nope", "x")
    assert res.exit_code == 2 and "not a tier" in res.stderr
    res = ask(loopback_config(), "   ")
    assert res.exit_code == 2 and "empty" in res.stderr


def test_ctrl_c_exits_130_and_records_cancelled(loopback, loopback_config):
    loopback.reply = " ".join(f"w{i}" for i in range(200))
    loopback.fail_next(Fault.slow(tokens_per_s=20))
    # Ctrl+C in a terminal: SIGINT at its default. A CI job started in the background of a
    # non-interactive shell ignores SIGINT, and a child would inherit that and never stop.
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--config", str(loopback_config()), "ask", "--stream", "hello there"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=dict(os.environ),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first = proc.stdout.read(2)  # the answer has started streaming
    assert first == b"w0"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert b"cancelled" in err and b"Traceback" not in err
    (row,) = ledger_rows()
    assert row["status"] == "cancelled" and row["output_tokens"] > 0
    assert row["answer"].startswith("w0 w1")
