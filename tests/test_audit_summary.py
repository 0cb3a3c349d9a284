"""`routedeck audit`: the one summary behind the text, `--json --summary` and `--html`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.settings import Settings
from app.core.evaluation.audit import PROMPT_PREVIEW_CHARS, TOP_PROMPTS, AuditTally
from app.core.routing.policy import route

FIXTURE = Path(__file__).parent / "fixtures" / "prompts_small.jsonl"


def invoke(*args: str, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_summary_json_matches_the_rows():
    rows = [json.loads(line) for line in invoke("audit", "--json", str(FIXTURE)).stdout.splitlines()]
    summary = json.loads(invoke("audit", "--json", "--summary", str(FIXTURE)).stdout)
    assert summary["prompts"] == len(rows) == 5
    per_tier = {t["tier"]: t["prompts"] for t in summary["per_tier"]}
    assert per_tier == {t: sum(r["tier"] == t for r in rows) for t in ("cheap", "premium")}
    assert summary["routed"]["cost_usd"] == pytest.approx(sum(r["est_cost_usd"] for r in rows))
    premium = sum(r["est_cost_by_tier"]["premium"] for r in rows)
    assert summary["always"]["premium"]["cost_usd"] == pytest.approx(premium)
    assert summary["savings_vs_premium_usd"] == pytest.approx(premium - summary["routed"]["cost_usd"])
    top = summary["top_prompts"]
    assert [p["premium_cost_usd"] for p in top] == sorted((p["premium_cost_usd"] for p in top),
                                                          reverse=True)
    assert {p["id"] for p in top} == {r["id"] for r in rows}
    assert summary["series"][-1] == {"prompt": 5, "routed": summary["routed"]["cost_usd"],
                                     "premium": premium,
                                     "cheap": summary["always"]["cheap"]["cost_usd"]}
    assert summary["policy"]["tiers"][-1]["name"] == "premium"


def test_summary_needs_json_and_text_still_reads():
    bad = CliRunner().invoke(cli, ["audit", "--summary", str(FIXTURE)])
    assert bad.exit_code == 2 and "--summary goes with --json" in bad.output
    text = invoke("audit", str(FIXTURE)).output
    assert "5 prompts routed" in text and "savings vs always-premium: $" in text


def test_unknown_prices_are_counted_not_zeroed(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[tiers]]\nname = "local"\nprovider = "openai"\nmodel = "no-such-model-x"\n'
                   '[[tiers]]\nname = "premium"\nprovider = "openai"\nmodel = "gpt-4o"\n',
                   encoding="utf-8")
    summary = json.loads(invoke("--config", str(cfg), "audit", "--json", "--summary",
                                str(FIXTURE)).stdout)
    assert summary["always"]["local"] == {"cost_usd": 0.0, "unpriced": 5}
    assert summary["savings_vs_premium_usd"] is None
    text = invoke("--config", str(cfg), "audit", str(FIXTURE)).output
    assert "always-local    $0  (at least; 5 unpriced)" in text
    assert "savings vs always-premium: ? (some prices are unknown)" in text
    out = tmp_path / "a.html"
    invoke("--config", str(cfg), "audit", str(FIXTURE), "--html", str(out))
    page = out.read_text("utf-8")
    assert 'data-figure="savings_vs_premium_usd" title="price unknown">?' in page
    assert "unknown (set input_per_mtok / output_per_mtok for this tier)" in page


def test_html_with_rows_and_hostile_prompts(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"id": "<i>x</i>", "prompt": "<script>alert(1)</script> " * 50})
                   + "\n" + json.dumps({"prompt": "hi"}) + "\n", encoding="utf-8")
    out = tmp_path / "audit.html"
    result = invoke("audit", "--json", str(log), "--html", str(out))
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["<i>x</i>", "2"]
    page = out.read_text("utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;x&lt;/i&gt;" in page


def test_tally_keeps_the_costliest_and_bounds_memory():
    settings = Settings()
    tally = AuditTally([t.name for t in settings.tiers])
    short, long = route("hi", settings), route("Explain " + "why " * 500, settings)
    for i in range(3000):
        tally.add(str(i), "Explain " + "why " * 500 if i == 1234 else "hi",
                  long if i == 1234 else short)
    data = tally.to_dict()
    assert len(data["top_prompts"]) == TOP_PROMPTS
    assert data["top_prompts"][0]["id"] == "1234"
    assert len(data["top_prompts"][0]["prompt"]) == PROMPT_PREVIEW_CHARS
    assert data["top_prompts"][0]["prompt_chars"] > PROMPT_PREVIEW_CHARS
    assert data["top_prompts"][1]["id"] == "0"  # ties keep file order
    assert len(data["series"]) <= 2 * 240 + 1
    assert data["series"][-1]["prompt"] == 3000
    assert data["series"][-1]["routed"] == pytest.approx(data["routed"]["cost_usd"])
    xs = [p["prompt"] for p in data["series"]]
    assert xs == sorted(xs) and xs[0] == 1
    # Each kept point is the running total at its prompt, however the curve was thinned.
    for point in data["series"]:
        if point["prompt"] < 1235:
            assert point["routed"] == pytest.approx(point["prompt"] * short.est_cost_usd)
