"""Provider fault matrix through ``routedeck ask`` against the loopback server.

Every case ends with the documented exit code and message (no traceback), one ledger row per
attempt with its status and error kind, and a CLI that answers the next prompt normally.
"""

from __future__ import annotations

import json

import pytest

from tests.loopback_server import Fault
from tests.reliability.helpers import FAULTS, FaultCase, ledger_rows, run_cli

pytestmark = pytest.mark.reliability


@pytest.mark.parametrize("case", FAULTS, ids=[c.id for c in FAULTS])
def test_ask_fault_matrix(case: FaultCase, loopback, tmp_path):
    cfg = tmp_path / "faults.toml"
    cfg.write_text(case.config_text(loopback), encoding="utf-8")
    case.inject(loopback)
    res = run_cli("ask", "--json", "hello there", config=cfg)
    assert "Traceback" not in res.stdout + res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == case.final, out["message"]
    assert res.exit_code == (0 if case.final == "ok" else 1)
    if case.final == "ok":
        assert out["text"] == loopback.reply
    else:
        assert out["text"] == ""
        for word in case.words:
            assert word in res.stderr, res.stderr
        assert res.stderr.startswith("error: ")
    rows = ledger_rows()
    assert [(r["status"], r["error_kind"]) for r in rows] == case.rows
    assert out["request_ids"] == [r["id"] for r in rows]
    assert all(r["error_message"] for r in rows if r["status"] != "ok")
    assert all(r["input_tokens"] >= 0 and r["output_tokens"] >= 0 for r in rows)
    assert all(r["cost_usd"] is None or r["cost_usd"] >= 0 for r in rows)
    if case.usage_source:
        assert rows[-1]["usage_source"] == case.usage_source
        assert rows[-1]["input_tokens"] > 0 and rows[-1]["output_tokens"] > 0

    # Still usable: with the fault gone, the next call answers (on a healthy server).
    if case.base_url is None:
        loopback.reset()
        again = run_cli("ask", "--json", "hello again", config=cfg)
        assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "ok"
        assert len(ledger_rows()) == len(rows) + 1


def test_ask_text_mode_fault_is_one_readable_line(loopback, loopback_config):
    loopback.fail_always(Fault.http(401))
    res = run_cli("ask", "hello there", config=loopback_config())
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "rejected the API key" in res.stderr
