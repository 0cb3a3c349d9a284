"""The report-data builder behind `report --json` and `report --html` (no browser here)."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.settings import Settings
from app.core.ledger.reader import SeriesPoint
from app.core.ledger.store import SQLiteStore, Store
from app.core.ledger.summary import build_report, downsample
from tests.test_report import CHEAP, PREMIUM, add

DAY = 86400.0


def seed(store: Store, start: float) -> dict[str, int]:
    """Day 0: two cheap turns (one judged), day 1: a premium turn, a fallback chain and an
    unpriced call, day 2: one more cheap turn judged later."""
    sid = store.new_session()
    ids = {
        "a": add(store, "a", CHEAP, session_id=sid, started_at=start, task_type="greeting",
                 input_tokens=1_000_000, output_tokens=0, premium_cost_usd=2.5),
        "b": add(store, "b", CHEAP, session_id=sid, started_at=start + 60,
                 task_type="factual_qa", input_tokens=1_000_000, output_tokens=0,
                 premium_cost_usd=2.5),
        "c": add(store, "c", PREMIUM, session_id=sid, started_at=start + DAY,
                 task_type="analysis", input_tokens=1_000_000, output_tokens=0,
                 premium_cost_usd=2.5),
    }
    add(store, "d", CHEAP, session_id=sid, status="error", started_at=start + DAY + 5,
        task_type="analysis", input_tokens=10, output_tokens=0, premium_cost_usd=0.1)
    add(store, "d", PREMIUM, 2, session_id=sid, fallback_from="cheap", task_type="analysis",
        started_at=start + DAY + 6, input_tokens=40_000, output_tokens=0,
        premium_cost_usd=0.1)
    add(store, "u", None, session_id=sid, started_at=start + DAY + 7, premium_cost_usd=None)
    ids["e"] = add(store, "e", CHEAP, session_id=sid, started_at=start + 2 * DAY,
                   task_type="greeting", input_tokens=1_000_000, output_tokens=0,
                   premium_cost_usd=2.5)
    store.add_verdict(ids["a"], ids["c"], "cheap_enough")
    store.add_verdict(ids["e"], ids["c"], "premium_better")
    return ids


def test_report_data_counts_turns_tasks_and_prices():
    with SQLiteStore.open() as s:
        seed(s, time.time() - 3 * DAY)
        data = build_report(s, Settings(), now=123.0).to_dict()
    assert (data["turns"], data["calls"], data["unpriced"]) == (6, 7, 1)
    tasks = {t["task_type"]: t for t in data["by_task"]}
    # A fallback chain is one turn with two calls, under one task type.
    assert tasks["analysis"]["turns"] == 2 and tasks["analysis"]["calls"] == 3
    assert tasks["greeting"]["turns"] == 2
    assert tasks["unclassified"]["unpriced"] == 1
    assert [t["task_type"] for t in data["by_task"]][:2] == ["analysis", "greeting"]
    seen = {(p["model"], p["source"]): p for p in data["prices_seen"]}
    assert seen[("gpt-4o-mini", "config")]["calls"] == 4
    assert seen[("mystery", None)]["input_per_mtok"] is None  # unknown, never 0
    assert data["generated_at"] == 123.0
    assert data["series"][-1]["actual"] == pytest.approx(data["spent"])
    assert data["policy"]["tiers"][0]["model"] == "gpt-4o-mini"
    assert re.fullmatch(r"genai-prices \S+ \(bundled snapshot\)", data["policy"]["price_snapshot"])
    json.dumps(data)  # plain data all the way down


def test_until_cuts_calls_and_verdicts():
    start = time.time() - 3 * DAY
    with SQLiteStore.open() as s:
        seed(s, start)
        # Only day 0; verdicts were all given "now", after the window.
        day0 = build_report(s, Settings(), since=start - 1, until=start + DAY - 1).to_dict()
        everything = build_report(s, Settings()).to_dict()
        later = build_report(s, Settings(), until=time.time() - 1).to_dict()
    assert (day0["turns"], day0["calls"]) == (2, 2)
    assert {t["task_type"] for t in day0["by_task"]} == {"greeting", "factual_qa"}
    assert round(day0["spent"], 2) == 0.30 and round(day0["savings"], 2) == 4.70
    assert day0["satisfaction"] == {}
    assert everything["satisfaction"]["gpt-4o-mini"]["verdicts"] == 2
    assert later["satisfaction"] == {}  # both verdicts were given in the last second


def test_report_json_carries_the_page_data_and_old_keys(tmp_path):
    with SQLiteStore.open() as s:
        seed(s, time.time() - 3 * DAY)
    out = CliRunner().invoke(cli, ["report", "--json"])
    data = json.loads(out.output)
    for key in ("turns", "spent", "savings", "by_tier", "by_model", "satisfaction",
                "fallback_rate", "spent_text", "by_task", "series", "policy", "prices_seen"):
        assert key in data, key
    store = data["scope"].pop("store")
    assert store.endswith("routedeck.db")  # which ledger was read: a file, or the team's
    assert data["scope"] == {"session": None, "since": None, "since_epoch": None,
                             "until": None, "until_epoch": None, "by": None}


def test_until_a_bare_date_includes_that_day():
    with SQLiteStore.open() as s:
        seed(s, time.time() - 3 * DAY)
    today = time.strftime("%Y-%m-%d")
    data = json.loads(CliRunner().invoke(cli, ["report", "--until", today, "--json"]).output)
    assert data["calls"] == 7 and data["scope"]["until_epoch"] > time.time()
    text = CliRunner().invoke(cli, ["report", "--until", today]).output
    assert f"until {today}" in text and "saved" in text
    bad = CliRunner().invoke(cli, ["report", "--until", "soon"])
    assert bad.exit_code == 2 and "--until" in bad.output


def test_downsample_keeps_the_ends():
    points = [SeriesPoint(str(i), float(i), float(i), 2.0 * i) for i in range(1000)]
    thin = downsample(points, 240)
    assert len(thin) == 240 and thin[0] == points[0] and thin[-1] == points[-1]
    assert [p.at for p in thin] == sorted(p.at for p in thin)
    assert downsample(points[:5], 240) == points[:5]


def test_html_page_is_self_contained_and_escapes(tmp_path):
    with SQLiteStore.open() as s:
        sid = s.new_session()
        add(s, "x", CHEAP, session_id=sid, task_type="<b>bold</b>", input_tokens=10,
            output_tokens=10, premium_cost_usd=0.001)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--html", str(out)])
    assert result.exit_code == 0 and "wrote the savings report" in result.output
    page = out.read_text("utf-8")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert "<script" not in page and "@import" not in page
    # Nothing to fetch: the only URLs are the SVG namespace, if any.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "@media print" in page and 'name="viewport"' in page


def test_html_goes_with_csv_too(tmp_path):
    with SQLiteStore.open() as s:
        seed(s, time.time() - 3 * DAY)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", "--csv", "--html", str(out)])
    assert result.exit_code == 0 and result.stdout.startswith("group,key,calls")
    assert out.stat().st_size > 1000


def test_html_for_an_empty_ledger_and_an_unwritable_path(tmp_path):
    out = tmp_path / "empty.html"
    assert CliRunner().invoke(cli, ["report", "--html", str(out)]).exit_code == 0
    assert "No calls yet" in out.read_text("utf-8")
    bad = CliRunner().invoke(cli, ["report", "--html", str(tmp_path / "no" / "dir.html")])
    assert bad.exit_code == 1 and "cannot write" in bad.output
