"""`routedeck compare` against the loopback server: estimate, confirmation, stored pairs."""

from __future__ import annotations

import json

from click.testing import CliRunner

from app.cli import cli
from app.core.config.loader import load_settings
from app.core.conversation.compare import parse_tiers
from app.core.ledger.store import SQLiteStore
from tests.loopback_server import Fault


def prompts_file(tmp_path, n=3):
    p = tmp_path / "prompts.txt"
    p.write_text("\n".join(f"Question number {i}: what is {i} + {i}?" for i in range(n)) + "\n")
    return p


def test_compare_asks_before_spending_and_sends_nothing_on_no(loopback, loopback_config, tmp_path):
    cfg = loopback_config()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "compare", str(prompts_file(tmp_path))],
                                input="n\n")
    assert result.exit_code == 0
    assert "3 prompts x 2 tiers (cheap vs premium)" in result.stderr
    assert "Nothing was sent." in result.stderr
    assert loopback.bodies() == []


def test_compare_stores_both_answers_as_pending_pairs(loopback, loopback_config, tmp_path):
    loopback.replies.update({"cheap-model": "cheap says 4", "premium-model": "premium says 4"})
    cfg = loopback_config()
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "compare", "--tiers", "premium,cheap", "--concurrency", "2",
              str(prompts_file(tmp_path))], input="y\n")
    assert result.exit_code == 0, result.output
    assert "stored 3 of 3 pair(s)" in result.stdout
    assert len(loopback.bodies()) == 6
    with SQLiteStore.open() as store:
        pairs = store.compare_pairs(pending_only=True)
        assert len(pairs) == 3
        for pair in pairs:
            assert pair["answer"]["tier"] == "cheap" and pair["answer"]["answer"] == "cheap says 4"
            assert pair["compared"]["tier"] == "premium"
            assert pair["prompt"].startswith("Question number")
        store.add_verdict(pairs[0]["answer_request_id"], pairs[0]["compared_request_id"],
                          "premium_better", kept_request_id=pairs[0]["compared_request_id"])
        assert len(store.compare_pairs(pending_only=True)) == 2
        judged = [p for p in store.compare_pairs() if p["verdict"]]
        assert judged[0]["verdict"] == "premium_better"


def test_compare_failure_keeps_the_other_pairs(loopback, loopback_config, tmp_path):
    loopback.fail_always(Fault.http(401), model="premium-model")
    cfg = loopback_config()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "compare", "-y",
                                      str(prompts_file(tmp_path, 2))])
    assert result.exit_code == 1
    assert "stored 0 of 2 pair(s)" in result.stdout
    # Each line says what happened to the pair and what it cost anyway.
    assert result.stderr.count("not stored:") == 2 and "premium: " in result.stderr
    assert "rejected the API key" in result.stderr and "spent $0.0000" in result.stderr
    assert "Traceback" not in result.output


def test_compare_without_credentials_exits_2(loopback_config, tmp_path):
    cfg = loopback_config(key_env="ROUTEDECK_TEST_KEY_UNSET")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "compare", "-y",
                                      str(prompts_file(tmp_path))])
    assert result.exit_code == 2
    assert "ROUTEDECK_TEST_KEY_UNSET" in result.stderr


def test_parse_tiers_orders_cheapest_first_and_explains_mistakes(loopback_config):
    s = load_settings(loopback_config())
    assert parse_tiers(s, None) == ("cheap", "premium")
    assert parse_tiers(s, "premium, mid") == ("mid", "premium")
    for bad in ("cheap", "cheap,cheap", "cheap,gold"):
        try:
            parse_tiers(s, bad)
        except ValueError as exc:
            assert "tier" in str(exc)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_a_compared_prompt_is_one_turn_that_saved_nothing(loopback, loopback_config, tmp_path):
    # Both answers of a pair belong to one turn (the second re-asks the first, as the
    # console's compare view does): the ledger counts a turn per prompt, spent on both
    # calls, against one all-premium call, so the session shows a cost, never a saving.
    cfg = loopback_config()
    run = CliRunner().invoke(cli, ["--config", str(cfg), "compare", "-y",
                                   str(prompts_file(tmp_path, 3))])
    assert run.exit_code == 0, run.output
    res = CliRunner().invoke(cli, ["--config", str(cfg), "report", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    totals = report  # the totals are the top-level keys
    assert totals["turns"] == 3 and totals["calls"] == 6
    assert totals["savings"] < 0 and totals["premium"] < totals["spent"]
    # A planned A/B re-run is no escalation (the report read 100% escalations).
    assert totals["escalations"] == 0 and not totals["escalation_rate"]
    with SQLiteStore.open() as store:
        rows = store.requests()
        assert not any(r["escalated"] for r in rows)
        assert len({r["turn_id"] for r in rows}) == 3
        assert sorted(r["attempt"] for r in rows) == [1, 1, 1, 2, 2, 2]
        assert {r["tier"] for r in rows if r["attempt"] == 2} == {"premium"}
        assert len(store.compare_pairs(pending_only=True)) == 3
