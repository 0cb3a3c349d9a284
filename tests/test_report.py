"""`routedeck report` and `routedeck export` through the real CLI (click CliRunner)."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.ledger.costs import usage_cost
from app.core.ledger.pricing import Price
from app.core.ledger.records import AttemptRecord, Usage
from app.core.ledger.store import Store
from tests.fakes import open_test_store

# The routing-data row schema (../shared/data/routing/README.md) that `eval` reads.
ROUTING_KEYS = {
    "id", "source", "dataset", "category", "task_type", "prompt", "cheap_model",
    "premium_model", "cheap_score", "premium_score", "score_type", "preference",
    "cheap_price_per_mtok_in", "cheap_price_per_mtok_out", "premium_price_per_mtok_in",
    "premium_price_per_mtok_out", "cheap_cost_usd", "premium_cost_usd", "cheap_output_chars",
    "premium_output_chars", "other_scores", "flags",
}
CHEAP = dict(tier="cheap", model="gpt-4o-mini", price_input_per_mtok=0.15,
             price_output_per_mtok=0.60, price_cached_input_per_mtok=0.075,
             price_source="config")
PREMIUM = dict(tier="premium", model="gpt-4o", price_input_per_mtok=2.5,
               price_output_per_mtok=10.0, price_cached_input_per_mtok=1.25,
               price_source="config")


def add(store: Store, turn: str, price: dict | None, attempt: int = 1,
        cost: float | None = None, **kw) -> int:
    """One attempt, priced at ``price`` unless ``cost`` says what it cost (a cache hit: 0)."""
    fields = dict(price or {"tier": "local", "model": "mystery"})
    fields.update(kw)
    rec = AttemptRecord(
        turn_id=turn, attempt=attempt, provider="openai", status=fields.pop("status", "ok"),
        started_at=fields.pop("started_at", time.time()),
        session_id=fields.pop("session_id", 1), **fields)
    if price is not None:  # priced with the engine's cost function, at the snapshot price
        snapshot = Price(rec.price_input_per_mtok, rec.price_output_per_mtok,
                         rec.price_cached_input_per_mtok, "config")
        rec.cost_usd = usage_cost(snapshot, Usage(rec.input_tokens, rec.output_tokens,
                                                  rec.cached_input_tokens))
    if cost is not None:
        rec.cost_usd = cost
    return store.record_attempt(rec)


@pytest.fixture
def ledger_data(backend):
    """Session 1: a cheap turn, a fallback chain, an unpriced turn; session 2: one verdict.
    On both backends: the CLI then reads the same store through [store] url."""
    with open_test_store() as s:
        s1, s2 = s.new_session("one"), s.new_session("two")
        add(s, "t1", CHEAP, session_id=s1, prompt="hi", answer="hello", input_tokens=200_000,
            output_tokens=50_000, premium_cost_usd=1.0, usage_source="provider")  # $0.06
        add(s, "t2", CHEAP, session_id=s1, status="error", error_kind="server_error",
            input_tokens=200_000, output_tokens=1_000, premium_cost_usd=0.51)  # $0.0306
        add(s, "t2", PREMIUM, 2, session_id=s1, fallback_from="cheap", input_tokens=200_000,
            output_tokens=50_000, premium_cost_usd=1.0)  # $1.00
        add(s, "t3", None, session_id=s1, input_tokens=10, output_tokens=10,
            premium_cost_usd=0.0001)  # unpriced
        cheap = add(s, "u1", CHEAP, session_id=s2, prompt="What is 2+2?", answer="4",
                    task_type="math", input_tokens=1_000_000, output_tokens=0,
                    premium_cost_usd=2.5)  # $0.15
        prem = add(s, "u2", PREMIUM, session_id=s2, prompt="What is 2+2?",
                   answer="2 + 2 = 4", task_type="math", escalated=True,
                   input_tokens=1_000_000, output_tokens=0, premium_cost_usd=2.5)  # $2.50
        s.add_verdict(cheap, prem, "cheap_enough", kept_request_id=cheap)
    return s1, s2


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_report_with_no_data(backend):
    out = run("report").output
    assert "No calls recorded yet" in out


def test_report_text(ledger_data):
    out = run("report").output
    assert "at least $3.74, 1 call unpriced" in out  # 0.06 + 0.0306 + 1.00 + 0.15 + 2.50
    assert "saved" in out and "fallback rate" in out and "cache hits" in out
    for word in ("cheap", "premium", "local", "gpt-4o-mini", "mystery"):
        assert word in out
    assert "100.0%" in out  # gpt-4o-mini satisfied in its one verdict


def test_report_json_to_the_cent(ledger_data):
    s1, s2 = ledger_data
    data = json.loads(run("report", "--json").output)
    assert (data["turns"], data["calls"], data["unpriced"]) == (5, 6, 1)
    assert round(data["spent"], 2) == 3.74
    # Priced turns: cf 1.0 + 1.0 + 2.5 + 2.5 = 7.0, actual 0.06 + 1.0306 + 0.15 + 2.5
    assert round(data["savings"], 2) == round(7.0 - 3.7406, 2)
    assert round(data["savings_pct"], 1) == 46.6
    assert data["fallbacks"] == 1 and data["escalations"] == 1
    assert data["satisfaction"]["gpt-4o-mini"]["rate"] == 1.0
    assert data["by_model"]["gpt-4o"]["calls"] == 2

    one = json.loads(run("report", "--session", str(s1), "--json").output)
    assert (one["turns"], round(one["spent"], 4)) == (3, 1.0906)
    assert one["satisfaction"] == {} and one["scope"]["session"] == s1


def test_report_csv(ledger_data):
    rows = list(csv.DictReader(io.StringIO(run("report", "--csv").output)))
    by = {(r["group"], r["key"]): r for r in rows}
    assert by[("total", "all")]["calls"] == "6"
    assert by[("total", "all")]["unpriced"] == "1"
    assert float(by[("tier", "premium")]["spent_usd"]) == pytest.approx(3.50)
    assert by[("model", "gpt-4o-mini")]["satisfaction_rate"] == "1.0"
    total = by[("total", "all")]
    assert int(total["verdicts"]) > 0
    assert float(total["satisfaction_rate"]) == pytest.approx(
        int(total["satisfied"]) / int(total["verdicts"]))
    assert by[("model", "mystery")]["unpriced"] == "1"


def test_report_tells_cache_savings_from_routing_savings(backend, tmp_path):
    """A replayed answer costs $0 against a full premium counterfactual: the report says how
    much of the saving the cache made, so a rehearsed demo does not pass it off as routing."""
    with open_test_store() as s:
        sid = s.new_session("demo")
        add(s, "r1", CHEAP, session_id=sid, input_tokens=200_000, output_tokens=50_000,
            premium_cost_usd=1.0)  # $0.06 against $1.00: routing saved $0.94
        add(s, "c1", CHEAP, session_id=sid, input_tokens=200_000, output_tokens=50_000,
            premium_cost_usd=1.0, cache_hit=True, cost=0.0)  # the cache saved $1.00
    out = run("report").output
    assert "saved         $1.94 (97.0%)" in out
    assert "of it $0.94 by routing, $1.00 by 1 cache hit(s)" in out
    data = json.loads(run("report", "--json").output)
    assert round(data["cache_savings"], 6) == 1.0 and data["cache_hits"] == 1
    (total,) = [r for r in csv.DictReader(io.StringIO(run("report", "--csv").output))
                if r["group"] == "total"]
    assert float(total["cache_savings_usd"]) == pytest.approx(1.0)
    page = tmp_path / "r.html"
    run("report", "--html", str(page))
    assert 'data-figure="cache_savings">$1.00</span> of it from 1 cache hit' in \
        page.read_text(encoding="utf-8")


def test_report_filters_and_errors(ledger_data):
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    # Calls exist, just none in the range: said so, not "nothing recorded yet".
    empty = run("report", "--since", tomorrow).output
    assert f"No calls in all sessions since {tomorrow}" in empty
    assert "recorded yet" not in empty
    today = time.strftime("%Y-%m-%d")
    assert json.loads(run("report", "--since", today, "--json").output)["calls"] == 6
    bad = run("report", "--since", "last tuesday", ok=False)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    both = run("report", "--json", "--csv", ok=False)
    assert both.exit_code == 2
    missing = run("report", "--session", "42", ok=False)
    assert missing.exit_code == 1 and "no session 42" in missing.output
    inverted = run("report", "--since", "2026-12-05", "--until", "2026-11-01", ok=False)
    assert inverted.exit_code == 2 and "swap the two dates" in inverted.output


def test_export_jsonl_has_every_request(ledger_data, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-exported")
    out = run("export").output
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 6
    assert rows[2]["fallback_from"] == "cheap" and rows[2]["attempt"] == 2
    assert rows[0]["cost_usd"] == pytest.approx(0.06)
    assert rows[3]["cost_usd"] is None
    assert "sk-test-never-exported" not in out


def test_export_csv_to_file(ledger_data, tmp_path):
    s1, _ = ledger_data
    dest = tmp_path / "requests.csv"
    result = run("export", "--format", "csv", "--out", str(dest), "--session", str(s1))
    assert "wrote 4 request row(s)" in result.output
    rows = list(csv.DictReader(dest.open(encoding="utf-8")))
    assert len(rows) == 4
    assert {"turn_id", "tier", "cost_usd", "premium_cost_usd", "price_source",
            "usage_source", "ttft_s"} <= set(rows[0])
    assert rows[3]["cost_usd"] == ""  # unpriced stays empty, never 0


def test_export_labels_in_routing_format(ledger_data, tmp_path):
    out = run("export", "--labels").output
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert ROUTING_KEYS <= set(row)
    assert (row["source"], row["score_type"], row["prompt"]) == \
        ("mine", "human_verdict", "What is 2+2?")
    assert (row["cheap_model"], row["premium_model"]) == ("gpt-4o-mini", "gpt-4o")
    assert (row["cheap_score"], row["premium_score"], row["preference"]) == \
        (1.0, 1.0, "cheap_win")
    assert row["task_type"] == "math" and row["premium_price_per_mtok_out"] == 10.0
    assert row["cheap_cost_usd"] == pytest.approx(0.15)
    assert (row["cheap_output_chars"], row["premium_output_chars"]) == (1, 9)

    dest = tmp_path / "labels.csv"
    run("export", "--labels", "--format", "csv", "--out", str(dest))
    (crow,) = list(csv.DictReader(dest.open(encoding="utf-8")))
    assert crow["preference"] == "cheap_win" and crow["flags"] == "[]"


def test_labels_skip_hash_only_prompts(backend, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[privacy]\nstore_prompts = false\n", encoding="utf-8")
    with open_test_store(privacy={"store_prompts": False}) as s:
        sid = s.new_session()
        a = add(s, "t", CHEAP, session_id=sid, prompt="private")
        b = add(s, "t2", PREMIUM, session_id=sid, prompt="private")
        s.add_verdict(a, b, "premium_better")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "export", "--labels"])
    assert result.exit_code == 0
    assert "skipped 1 verdict(s) whose prompt is stored as a hash only" in result.output
    assert "private" not in result.output.replace("[privacy]", "")


def test_labels_say_when_a_verdict_s_prompt_went_with_its_session(backend, tmp_path):
    with open_test_store() as s:
        sid = s.new_session()
        a = add(s, "t", CHEAP, session_id=sid, prompt="judged then deleted")
        b = add(s, "t2", PREMIUM, session_id=sid, prompt="judged then deleted")
        s.add_verdict(a, b, "premium_better")
        s.delete_session(sid)
    result = CliRunner().invoke(cli, ["export", "--labels"])
    assert result.exit_code == 0
    assert "skipped 1 verdict(s) whose prompt went with its deleted session" in result.output
    assert "store_prompts" not in result.output  # not the privacy setting's doing


def test_report_by_each_dimension(ledger_data, monkeypatch):
    data = json.loads(run("report", "--json", "--by", "tier").output)
    tiers = data["by"]
    assert set(tiers) == {"cheap", "local", "premium"}
    # A turn belongs to the tier of its last attempt: t2's fallback chain is premium's.
    assert (tiers["cheap"]["calls"], tiers["cheap"]["turns"]) == (3, 2)
    assert (tiers["premium"]["calls"], tiers["premium"]["turns"]) == (2, 2)
    assert tiers["premium"]["fallbacks"] == 1 and tiers["premium"]["escalations"] == 1
    # premium's turns: t2 (cf 1.0, paid 0.0306 + 1.0) and u2 (cf 2.5, paid 2.5)
    assert round(tiers["premium"]["savings"], 4) == round(3.5 - 3.5306, 4)
    assert tiers["local"]["savings"] is None and tiers["local"]["unpriced"] == 1
    tasks = json.loads(run("report", "--json", "--by", "task").output)["by"]
    assert (tasks["math"]["turns"], tasks[""]["turns"]) == (2, 3)
    users = json.loads(run("report", "--json", "--by", "user").output)["by"]
    hosts = json.loads(run("report", "--json", "--by", "host").output)["by"]
    assert len(users) == len(hosts) == 1
    (me,) = users.values()
    assert (me["calls"], me["turns"]) == (data["calls"], data["turns"])
    assert round(me["savings"], 6) == round(data["savings"], 6)

    text = run("report", "--by", "model").output
    assert "all-premium" in text and "gpt-4o-mini" in text and "turns" in text
    assert "tokens in" not in text  # --by replaces the per-tier/per-model tables
    rows = list(csv.DictReader(io.StringIO(run("report", "--csv", "--by", "tier").output)))
    by = {(r["group"], r["key"]): r for r in rows}
    assert set(by) == {("total", "all"), ("tier", "cheap"), ("tier", "local"),
                       ("tier", "premium")}
    assert by[("tier", "premium")]["turns"] == "2"
    assert float(by[("tier", "cheap")]["savings_usd"]) == pytest.approx(
        tiers["cheap"]["savings"])
    bad = run("report", "--by", "weekday", ok=False)
    assert bad.exit_code == 2 and "user" in bad.output


def test_task_types_read_as_words_where_people_read_them(backend, tmp_path):
    with open_test_store() as s:
        sid = s.new_session()
        add(s, "t1", CHEAP, session_id=sid, task_type="code_debug", premium_cost_usd=0.1)
    text = run("report", "--by", "task").output
    assert "code debug/review" in text and "code_debug" not in text
    assert "code_debug" in json.loads(run("report", "--json", "--by", "task").output)["by"]
    page = tmp_path / "r.html"
    run("report", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert "code debug/review" in html and ">code_debug<" not in html


def test_report_names_the_store_without_a_password(ledger_data, backend):
    out = run("report").output
    line = next(ln for ln in out.splitlines() if ln.startswith("store "))
    assert ("postgresql://" in line) == (backend == "postgresql")
    assert json.loads(run("report", "--json").output)["scope"]["store"] == line.split()[-1]
