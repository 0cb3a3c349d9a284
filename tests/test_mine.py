"""`routedeck eval --mine` and `routedeck calibrate` on the user's own stored verdicts."""

from __future__ import annotations

import json
import time

import tomlkit
from click.testing import CliRunner

from app.cli import cli
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import SQLiteStore, Store

EASY = ["hi there", "thanks a lot!", "What is the capital of France?", "Translate 'cat' to German.",
        "Say hello in Spanish.", "What colour is the sky?"]
HARD = ["Prove that the square root of 2 is irrational.",
        "Show that there are infinitely many primes p = 3 mod 4.",
        "Derive the Schrodinger equation for a particle in a box, step by step.",
        "Prove that every bounded monotone sequence of real numbers converges."]


def _req(store: Store, prompt: str, tier: str, model: str, cost: float) -> int:
    return store.record_attempt(AttemptRecord(
        turn_id=f"{tier}-{prompt}", attempt=1, session_id=None, tier=tier, model=model,
        provider="openai", status="ok", started_at=time.time(), prompt=prompt,
        answer=f"{tier} answer", cost_usd=cost, premium_cost_usd=0.01))


def judge(prompts: list[str], verdict: str, copies: int = 1) -> None:
    with SQLiteStore.open() as store:
        for _ in range(copies):
            for p in prompts:
                a = _req(store, p, "cheap", "gpt-4o-mini", 0.001)
                b = _req(store, p, "premium", "gpt-4o", 0.01)
                store.add_compare_pair(p, a, b)
                store.add_verdict(a, b, verdict, kept_request_id=b if verdict == "premium_better" else a)


def test_eval_mine_without_verdicts_says_how_to_get_them():
    result = CliRunner().invoke(cli, ["eval", "--mine"])
    assert result.exit_code == 1
    assert "ctrl+e" in result.stderr and "routedeck review" in result.stderr


def test_eval_needs_file_or_mine():
    assert CliRunner().invoke(cli, ["eval"]).exit_code == 2


def test_eval_mine_scores_the_router_on_verdicts():
    judge(EASY, "cheap_enough")
    judge(HARD, "premium_better")
    result = CliRunner().invoke(cli, ["eval", "--mine", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["file"] == "mine" and out["rows"] == len(EASY) + len(HARD)
    groups = out["groups"]["overall"]
    # The learned router ranks every hard prompt above every easy one, like the oracle:
    # PGR climbs to 1 over the first 40% of calls, so APGR = 0.4 / 2 + 0.6 = 0.8.
    assert groups["router"]["apgr"] == groups["oracle"]["apgr"] == 0.8
    assert groups["random"]["apgr"] == 0.5
    text = CliRunner().invoke(cli, ["eval", "--mine"])
    assert "your 10 verdict(s)" in text.stdout
    # One dataset: its table once, not again as "overall".
    assert text.stdout.count("always-premium") == 1, text.stdout
    assert "its figures are the overall ones" in text.stdout


def test_calibrate_on_enough_verdicts_writes_the_threshold_keeping_comments(isolated_home):
    judge(EASY, "cheap_enough", copies=3)
    judge(HARD, "premium_better", copies=3)
    cfg = isolated_home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('# my routing setup\n[router]\nthresholds = [0.99]  # far too strict\n')
    runner = CliRunner()
    refused = runner.invoke(cli, ["calibrate", "--target-quality", "1.0"], input="n\n")
    assert refused.exit_code == 0, refused.output
    assert "your 30 verdicts" in refused.output
    assert "config left unchanged" in refused.output
    assert "[0.99]" in cfg.read_text()
    done = runner.invoke(cli, ["calibrate", "--target-quality", "1.0", "-y"])
    assert done.exit_code == 0, done.output
    doc = tomlkit.parse(cfg.read_text())
    new = float(doc["router"]["thresholds"][0])
    assert new < 0.99
    assert "# my routing setup" in cfg.read_text()
    # The new threshold sends every hard prompt to premium and every easy one to cheap.
    from app.core.config.loader import load_settings
    from app.core.routing.policy import route
    s = load_settings(cfg)
    assert s.router.thresholds == [new]
    assert {route(p, s).tier for p in HARD} == {"premium"}
    assert {route(p, s).tier for p in EASY} == {"cheap"}
    assert "overrides the file" not in done.stderr


def test_calibrate_warns_when_a_variable_overrides_what_it_writes(isolated_home, monkeypatch):
    judge(EASY, "cheap_enough", copies=3)
    judge(HARD, "premium_better", copies=3)
    monkeypatch.setenv("ROUTEDECK_ROUTER__THRESHOLDS", "[0.3]")
    done = CliRunner().invoke(cli, ["calibrate", "--target-quality", "1.0", "-y"])
    assert done.exit_code == 0, done.output
    assert "$ROUTEDECK_ROUTER__THRESHOLDS is set and overrides the file" in done.stderr


def test_calibrate_needs_exactly_one_target():
    result = CliRunner().invoke(cli, ["calibrate", "--budget", "0.4", "--target-quality", "0.9"])
    assert result.exit_code == 2 and "exactly one" in result.output


def test_calibrate_on_a_data_file(tmp_path, isolated_home):
    rows = [{"prompt": p, "cheap_score": 1.0, "premium_score": 1.0} for p in EASY] + \
           [{"prompt": p, "cheap_score": 0.0, "premium_score": 1.0} for p in HARD]
    data = tmp_path / "labels.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = CliRunner().invoke(cli, ["calibrate", "--target-premium-share", "0.4",
                                      "--data", str(data), "-y"])
    assert result.exit_code == 0, result.output
    assert "10 labelled rows" in result.output
    assert (isolated_home / "config" / "config.toml").exists()


def test_calibrate_without_verdicts_uses_the_shipped_sample_and_says_so():
    result = CliRunner().invoke(cli, ["calibrate", "--target-premium-share", "0.3"], input="n\n")
    assert result.exit_code == 0, result.output
    assert "only 0 verdict(s) with their prompt stored, 30 needed" in result.output
    assert "shipped out-of-fold sample" in result.output
    share_line = next(line for line in result.output.splitlines() if "prompts to premium" in line)
    assert share_line.split()[-1] in {"29.9%", "30.0%"}


def test_calibrate_rules_strategy_without_verdicts_explains_what_to_do(monkeypatch):
    monkeypatch.setenv("ROUTEDECK_ROUTER__STRATEGY", "rules")
    result = CliRunner().invoke(cli, ["calibrate", "--budget", "0.5"])
    assert result.exit_code == 2
    assert "--data FILE" in result.output and "routedeck review" in result.output
