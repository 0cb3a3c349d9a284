"""`routedeck ask` as a conversation (-c/--continue, --session, --system), the honest counters
it shares with the console (escalations, cut answers), and the small untruths that used to
slip through (`config check` themes, silent `export --labels`, a failure told twice)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli
from app.core.config.loader import load_settings
from app.core.conversation.session import ConsoleSession
from app.core.ledger.reader import Ledger
from app.core.ledger.store import open_store
from tests.fakes import ledger_rows
from tests.loopback_server import Fault


def run(config: Path | None, *args: str, code: int = 0):
    argv = (["--config", str(config)] if config else []) + list(args)
    res = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res


def test_continue_sends_the_last_conversation_and_its_system_prompt(loopback, loopback_config):
    cfg = loopback_config()
    first = json.loads(run(cfg, "ask", "--json", "--system", "Answer in French.",
                           "what is the capital of France?").stdout)
    loopback.reply = "Et Berlin pour l'Allemagne."
    second = json.loads(run(cfg, "ask", "--json", "-c", "and Germany?").stdout)
    assert second["session"] == first["session"] is not None
    messages = loopback.bodies()[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == "Answer in French."
    assert messages[1]["content"] == "what is the capital of France?"
    assert messages[-1]["content"] == "and Germany?"
    # A plain ask starts a new conversation; --session picks one by id.
    third = json.loads(run(cfg, "ask", "--json", "hello").stdout)
    assert third["session"] != first["session"]
    assert [m["role"] for m in loopback.bodies()[-1]["messages"]] == ["user"]
    run(cfg, "ask", "--json", "--session", str(first["session"]), "and Spain?")
    assert len(loopback.bodies()[-1]["messages"]) == 6


def test_continue_skips_a_console_opened_and_quit_at_once(loopback, loopback_config):
    """Every console launch opens a session: one quit before any prompt is no conversation
    to continue, and the session list leaves it out (but shows the open one)."""
    cfg = loopback_config()
    first = json.loads(run(cfg, "ask", "--json", "what is the capital of France?").stdout)
    settings = load_settings(cfg)
    launched = ConsoleSession(settings)
    launched.open()  # a console started and quit: no prompt, no call
    assert [s.id for s in launched.list_sessions()][:2] == [launched.session_id,
                                                             first["session"]]
    launched.close()
    again = ConsoleSession(settings)
    again.open()
    assert launched.session_id not in [s.id for s in again.list_sessions()]
    again.close()
    second = json.loads(run(cfg, "ask", "--json", "-c", "and Germany?").stdout)
    assert second["session"] == first["session"]
    assert len(loopback.bodies()[-1]["messages"]) == 3


def test_continue_with_nothing_to_continue_starts_a_new_one(loopback, loopback_config):
    res = run(loopback_config(), "ask", "-c", "hello")
    assert "no earlier conversation" in res.stderr and res.stdout == loopback.reply + "\n"


def test_unknown_session_is_a_usage_error(loopback, loopback_config):
    res = run(loopback_config(), "ask", "--session", "123456789012345678901234567890",
              "hello", code=2)
    assert "not in the range" in res.stderr and "Traceback" not in res.output
    res = run(loopback_config(), "ask", "--session", "424242", "hello", code=2)
    assert "unknown session 424242" in res.stderr and "Traceback" not in res.output


def test_a_failure_is_told_once(loopback, loopback_config):
    loopback.fail_always(Fault.http(401))
    res = run(loopback_config(), "ask", "hello", code=1)
    assert res.stderr.count("rejected the API key") == 1


def test_cut_answer_is_ok_to_read_but_marked_in_json_text_and_the_ledger(loopback,
                                                                       loopback_config):
    cfg = loopback_config()
    cfg.write_text(cfg.read_text().replace('model = "cheap-model"\n',
                                           'model = "cheap-model"\nmax_output_tokens = 2\n'))
    obj = json.loads(run(cfg, "ask", "--json", "--tier", "cheap", "hello").stdout)
    assert obj["status"] == "truncated" and obj["finish_reason"] == "length"
    text = run(cfg, "ask", "--tier", "cheap", "--no-cache", "hello")
    assert "CUT SHORT" in text.stderr and "max_output_tokens (2)" in text.stderr
    assert [r["status"] for r in ledger_rows()] == ["truncated", "truncated"]
    report = json.loads(run(cfg, "report", "--json").stdout)
    assert report["truncated"] == 2


async def test_an_escalation_counts_once_in_the_ledger_report_and_export(loopback,
                                                                       loopback_config):
    """The compare view's re-run joins the turn it re-asks: the turn counts as escalated, the
    re-run's cost is in the turn's actual spend, and the counterfactual is counted once."""
    loopback.replies["mid-model"] = "a better answer"
    cfg = loopback_config()
    settings = load_settings(cfg)
    session = ConsoleSession(settings)
    session.open()
    try:
        async for _ in session.run_turn(session.start_turn("hello")):
            pass
        async for _ in session.escalate():
            pass
        session.judge("premium_better")
        totals = Ledger(session.store()).totals(session.session_id)
    finally:
        await session.aclose()
    assert (totals.turns, totals.calls, totals.escalations) == (1, 2, 1)
    report = json.loads(run(cfg, "report", "--json").stdout)
    assert report["escalations"] == 1 and report["escalation_rate"] == 1.0
    rows = [json.loads(line) for line in run(cfg, "export").stdout.splitlines()]
    rerun = rows[-1]
    assert rerun["escalated"] is True and rerun["forced"] is True and rerun["attempt"] == 2
    assert rerun["turn_id"] == rows[0]["turn_id"]
    assert rerun["escalation_reason"] == "compare: turn 1 re-run on mid"


def test_export_labels_with_no_verdicts_says_so(loopback_config):
    res = run(loopback_config(), "export", "--labels")
    assert res.stdout == "" and "no verdicts stored yet" in res.stderr


def test_config_check_refuses_an_unknown_theme(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ui]\ntheme = "neon-nope"\n', encoding="utf-8")
    res = run(cfg, "config", "check", code=2)
    assert "ui.theme: no theme named 'neon-nope'" in res.stderr
    assert "routedeck-dark" in res.stderr and "textual-dark" in res.stderr
    cfg.write_text('[ui]\ntheme = "nord"\n', encoding="utf-8")
    assert run(cfg, "config", "check").stdout.startswith("OK")


def test_config_check_reports_every_problem_in_one_round(tmp_path):
    # A schema error used to hide the theme and key problems until it was fixed.
    cfg = tmp_path / "c.toml"
    cfg.write_text('[router]\nthresholds = [0.2, 0.5]\n[ui]\ntheme = "neon-nope"\n'
                   '[keymap]\nescalate = "ctrl+nonsense"\n', encoding="utf-8")
    err = run(cfg, "config", "check", code=2).stderr
    assert err.startswith("Configuration problems in")
    assert "router.thresholds:" in err and "ui.theme: no theme named 'neon-nope'" in err
    assert "keymap.escalate:" in err and "Traceback" not in err
    # A theme that is not even a string is the schema's to report, once.
    cfg.write_text('[router]\nthresholds = [0.2, 0.5]\n[ui]\ntheme = 3\n', encoding="utf-8")
    err = run(cfg, "config", "check", code=2).stderr
    assert err.count("ui.theme") == 1 and "router.thresholds:" in err
    assert "write a quoted string" in err and "gpt-4o-mini" not in err


def test_session_titles_come_from_the_first_prompt(loopback, loopback_config):
    cfg = loopback_config()
    run(cfg, "ask", "How do I rotate a Postgres password without downtime?")
    with open_store(load_settings(cfg)) as store:
        [s] = store.sessions()
    assert s["title"] == "How do I rotate a Postgres password without downtime?"


def test_eval_counts_training_prompts_by_content_not_by_file(tmp_path, monkeypatch):
    """A head (or a shuffle) of the training data is the model's own data under another
    name: eval finds it by the prompts' fingerprints."""
    from app.core.evaluation import overlap

    rows = [json.dumps({"prompt": f"question number {i}", "cheap_score": i % 2,
                        "premium_score": 1}) for i in range(40)]
    data = tmp_path / "renamed.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    trained = [f"Question  number {i}" for i in range(30)]  # case and spacing do not matter
    overlap.write(tmp_path / overlap.FILE, trained)
    monkeypatch.setattr(overlap, "trained_on",
                        lambda model_dir=None, real=overlap.trained_on: real(tmp_path))
    res = run(None, "eval", str(data))
    assert ("IN-SAMPLE: 30 of the file's 40 readable prompts (75%) are ones the learned model "
            "was trained on") in res.stdout


def test_eval_plot_without_matplotlib_fails_before_any_work(tmp_path):
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None:  # the [plot] extra is installed
        return
    res = run(None, "eval", "tests/fixtures/routing_small.jsonl", "--plot",
              str(tmp_path / "p.png"), code=1)
    assert "needs matplotlib" in res.stderr and res.stdout == ""


def test_ask_into_a_session_a_console_has_open_warns(loopback, loopback_config):
    # A console (here a live stand-in process) holds session N: `ask -c` adds its turn to
    # the store, and says that console will neither show nor send it.
    import subprocess
    import sys

    from app.core.conversation import presence

    cfg = loopback_config()
    sid = json.loads(run(cfg, "ask", "--json", "first question").stdout)["session"]
    console = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        presence._dir().mkdir(parents=True, exist_ok=True)
        (presence._dir() / f"{sid}-{console.pid}").touch()
        assert presence.holder(sid) == console.pid
        res = run(cfg, "ask", "-c", "and a follow-up")
        assert f"session {sid} is open in a console (pid {console.pid})" in res.stderr
    finally:
        console.kill()
        console.wait()
    # The console is gone: its mark is stale, removed, and nothing is said.
    res = run(cfg, "ask", "-c", "one more")
    assert "open in a console" not in res.stderr
    assert not list(presence._dir().glob(f"{sid}-*"))


def test_the_console_marks_the_session_it_shows(loopback_settings):
    import os

    from app.core.conversation import presence

    session = ConsoleSession(loopback_settings())
    session.marks_presence = True
    session.open(None)
    first = session.session_id
    assert (presence._dir() / f"{first}-{os.getpid()}").exists()
    second = session.new_session()
    assert not (presence._dir() / f"{first}-{os.getpid()}").exists()
    assert (presence._dir() / f"{second}-{os.getpid()}").exists()
    session.close()
    assert not list(presence._dir().glob(f"*-{os.getpid()}"))


def test_a_toml_syntax_error_names_tables_as_toml_does(tmp_path):
    # tomllib says "Cannot declare ('router',) twice": a Python tuple, for "[router" left
    # unclosed after a [router] table.
    cfg = tmp_path / "c.toml"
    cfg.write_text("[router]\nthresholds = [0.2]\n\n[router\n", encoding="utf-8")
    err = run(cfg, "config", "check", code=2).stderr
    assert "Cannot declare [router] twice (at line 4" in err and "('router',)" not in err
    assert "left unclosed" in err


def test_a_mistyped_subcommand_gets_a_suggestion():
    res = CliRunner().invoke(cli, ["reprot"])
    assert res.exit_code == 2 and "No such command 'reprot'. Did you mean 'report'?" in res.output
    res = CliRunner().invoke(cli, ["zzz"])
    assert res.exit_code == 2 and "Did you mean" not in res.output
