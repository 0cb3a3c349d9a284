"""`routedeck route` and `routedeck audit` in both output modes, offline, no credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from app.cli import cli

FIXTURE = Path(__file__).parent / "fixtures" / "prompts_small.jsonl"
REQUIRED = {"id", "tier", "model", "score", "task_type", "reason", "decision_us", "est_cost_usd"}


def test_route_json_has_the_contract_fields():
    result = CliRunner().invoke(cli, ["route", "--json", "Prove that 17 is prime."])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert REQUIRED <= set(row)
    assert row["tier"] == "premium" and row["est_cost_usd"] > 0


def test_route_reads_stdin_and_rejects_empty():
    ok = CliRunner().invoke(cli, ["route"], input="hello there\n")
    assert ok.exit_code == 0 and "tier      cheap" in ok.output
    empty = CliRunner().invoke(cli, ["route"], input="   \n")
    assert empty.exit_code == 2 and "empty" in empty.output
    # A label the classifier is unsure of says what its "?" means (and only then).
    seen_unsure = False
    for prompt in ("hello there", "purple elephants on tuesday", "Prove that 17 is prime."):
        out = CliRunner().invoke(cli, ["route", prompt]).output
        label = out.split("   task ", 1)[1].split("   ", 1)[0]
        seen_unsure |= label.endswith("?")
        assert label.endswith("?") == ("(? = the task classifier is unsure)" in out), out
    assert seen_unsure
    raised = CliRunner().invoke(cli, ["route", "Review this contract clause for compliance "
                                      "issues"]).output
    assert "(classifier 0." in raised and ", its score confidence 0." in raised


def test_audit_json_one_row_per_prompt_in_order():
    result = CliRunner().invoke(cli, ["audit", "--json", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in rows] == ["g1", "q1", "p1", "c1", "5"]
    assert all(REQUIRED <= set(r) for r in rows)
    tiers = {r["id"]: r["tier"] for r in rows}
    assert tiers["g1"] == "cheap" and tiers["p1"] == "premium"


def test_audit_summary_table(tmp_path):
    text = tmp_path / "prompts.txt"
    text.write_text("hi\nProve that there are infinitely many primes.\n\nWhat is 2+2?\n")
    result = CliRunner().invoke(cli, ["audit", str(text)])
    assert result.exit_code == 0, result.output
    assert "3 prompts routed" in result.output
    assert "per tier" in result.output and "per task type" in result.output
    # Task types in the words `route` shows, not the ids.
    assert "proof/advanced maths" in result.output and "proof " not in result.output
    assert "always-premium" in result.output and "savings vs always-premium" in result.output


def test_audit_reports_bad_lines_and_keeps_going(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "hi"}\n{"prompt": broken\n\xff\xfe\n{"id": 7}\n'
                    b'{"prompt": "a\\u0000b"}\n{"prompt": "bye"}\n')
    result = CliRunner().invoke(cli, ["audit", "--json", str(bad)])
    assert result.exit_code == 0
    out_rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in out_rows] == ["1", "5", "6"]
    assert ":2: skipped: malformed JSON" in result.stderr
    assert ":3: skipped: not valid UTF-8" in result.stderr
    assert ":4: skipped: no string 'prompt'" in result.stderr
    # Not one row readable: a failure, not a clean run of zero prompts.
    hopeless = tmp_path / "hopeless.jsonl"
    hopeless.write_bytes(b'\xff\xfe garbage\n{"id": 1}\n')
    for args in (["audit", str(hopeless)], ["audit", "--json", str(hopeless)]):
        failed = CliRunner().invoke(cli, args)
        assert failed.exit_code == 1, failed.output
        assert "none of the 2 row(s)" in failed.stderr and "nothing was routed" in failed.stderr


def test_core_does_not_import_textual():
    code = (
        "import sys, importlib, pkgutil, app.core\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "from app.core.routing.policy import route\nfrom app.core.config.settings import Settings\n"
        "route('hello', Settings())\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "assert not bad, bad\nprint('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "clean" in out.stdout


def test_python_dash_m_app_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "app", "route", "--json", "hi"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tier"] == "cheap"


def test_audit_reads_a_csv_log_by_its_prompt_column(tmp_path):
    # Read as lines, a CSV's header was routed as a prompt and each row kept its other columns.
    log = tmp_path / "log.csv"
    log.write_text('id,prompt,user\np1,hi there,bob\n'
                   'p2,"Review this contract clause\nfor compliance issues",ann\np3,,x\n',
                   encoding="utf-8")
    result = CliRunner().invoke(cli, ["audit", "--json", str(log)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["tier"]) for r in rows] == [("p1", "cheap"), ("p2", "premium")]
    assert "log.csv:5: skipped: empty 'prompt'" in result.stderr
    other = tmp_path / "other.csv"
    other.write_text("when,who\n2024-01-01,bob\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["audit", str(other)])
    assert refused.exit_code == 1 and "no prompt column (columns: when, who" in refused.output
