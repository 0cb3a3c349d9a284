"""The report and audit pages in headless Chromium, offline: what a stakeholder sees.

Each page is written by the real CLI, opened from disk with the browser's network off, and
held against the JSON the same command prints for the same data: every headline figure on
the page must read exactly as the one money formatter writes the JSON value.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.ledger.money import format_usd
from app.core.ledger.store import SQLiteStore
from app.core.routing.types import TASK_LABELS
from tests.test_report import CHEAP, PREMIUM, add

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> Prove step by step that'


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def ledger():
    """Two days of traffic: cheap and premium turns, a fallback, an escalation, a cache hit,
    an unpriced call and verdicts on both models."""
    start = time.time() - 2 * 86400
    with SQLiteStore.open() as s:
        sid = s.new_session("demo")
        ids = []
        for i in range(24):
            price, task = (PREMIUM, "analysis") if i % 4 == 0 else (CHEAP, "factual_qa")
            ids.append(add(s, f"t{i}", price, session_id=sid, started_at=start + i * 3600,
                           task_type=task if i % 3 else "code_write", input_tokens=2_000 + i,
                           output_tokens=400, premium_cost_usd=0.009 + i / 10_000,
                           usage_source="provider", latency_s=0.8, cache_hit=i == 7,
                           escalated=i == 9))
        add(s, "f", CHEAP, session_id=sid, status="error", started_at=start + 25 * 3600,
            input_tokens=2_000, output_tokens=0, premium_cost_usd=0.009)
        add(s, "f", PREMIUM, 2, session_id=sid, fallback_from="cheap", task_type="analysis",
            started_at=start + 25 * 3600 + 1, input_tokens=2_000, output_tokens=400,
            premium_cost_usd=0.009)
        add(s, "u", None, session_id=sid, started_at=start + 26 * 3600, input_tokens=5,
            output_tokens=5, premium_cost_usd=None)
        for a, b, verdict in ((1, 0, "cheap_enough"), (2, 0, "premium_better"), (4, 5, "tie")):
            s.add_verdict(ids[a], ids[b], verdict)
    return sid


@pytest.fixture
def offline(browser):
    browser.set_offline(True)
    try:
        yield
    finally:
        browser.set_offline(False)


def open_offline(page, path: Path) -> list[str]:
    """Open a page from disk and return every URL it requested (the file itself included)."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert not dialogs, f"the page ran script: {dialogs}"
    return requested


def size_of(page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not drawn"
    return box["width"], box["height"]


def shown(page, figure: str) -> str:
    return page.locator(f'[data-figure="{figure}"]').inner_text().strip()


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_report_page_shows_the_json_figures_offline(page, ledger, tmp_path, shot, offline):
    out = tmp_path / "report.html"
    run("report", "--html", str(out))
    data = json.loads(run("report", "--json"))
    assert out.stat().st_size < 200_000

    requested = open_offline(page, out)
    assert requested == [out.as_uri()], f"the page fetched more than itself: {requested}"

    # The figures on the page are the JSON's, as the one money formatter writes them.
    for key in ("spent", "premium", "savings"):
        assert shown(page, key) == format_usd(data[key]), key
    assert shown(page, "savings_pct") == f"{data['savings_pct']:.1f}%"
    assert shown(page, "turns") == f"{data['turns']:,}"
    assert shown(page, "calls") == f"{data['calls']:,}"
    for key in ("fallbacks", "escalations", "cache_hits", "errors"):
        assert shown(page, key) == str(data[key]), key
    tiers = page.locator("#tier-share .barrow").all_inner_texts()
    assert [t.split("\n")[0] for t in tiers] == list(data["by_tier"])
    for text, bucket in zip(tiers, data["by_tier"].values(), strict=True):
        assert f"{bucket['calls']:,} call" in text
    verdicts = page.locator("#verdict-table tbody tr").all_inner_texts()
    assert [v.split("\t")[:2] for v in verdicts] == [
        [m, str(s["verdicts"])] for m, s in data["satisfaction"].items()]
    tasks = page.locator("#task-share .name").all_inner_texts()
    # In words, as `route` says them; the JSON keeps the ids.
    assert tasks == [TASK_LABELS.get(t["task_type"], t["task_type"]) for t in data["by_task"]]
    assert "code write" in tasks

    # The unknown price reads as unknown, never as $0.
    unknown = page.locator("#prices-seen tr", has_text="mystery").inner_text()
    assert "unknown price" in unknown and "?" in unknown and "$0" not in unknown
    assert "1 call(s) with unknown price" in page.locator("#headline").inner_text()

    # Charts are drawn and have size.
    width, height = size_of(page, "#spend-chart")
    assert width > 500 and height > 150
    for line in ("polyline.routed", "polyline.premium", "polygon.saved"):
        w, h = size_of(page, f"#spend-chart {line}")
        assert w > 300 and h > 20, line
    fills = page.locator("#tier-share rect.fill")
    assert fills.count() == len(data["by_tier"])
    assert all(fills.nth(i).bounding_box()["width"] > 0 for i in range(fills.count()))
    assert "gpt-4o-mini" in page.locator("#policy-tiers").inner_text()
    assert fits_the_width(page)
    shot(page, "report-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    assert fits_the_width(page), "the report scrolls sideways on a phone"
    boxes = [page.locator("#headline .figure").nth(i).bounding_box() for i in range(2)]
    assert boxes[1]["y"] > boxes[0]["y"], "headline figures should stack on a phone"
    assert size_of(page, "#spend-chart")[0] > 300
    shot(page, "report-phone")

    page.emulate_media(media="print")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    assert page.pdf(format="A4")[:4] == b"%PDF"


def test_report_page_for_a_session_and_dates_matches_its_json(page, ledger, tmp_path, offline):
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    args = ("--session", str(ledger), "--since", "2000-01-01", "--until", tomorrow)
    out = tmp_path / "scoped.html"
    run("report", *args, "--html", str(out))
    data = json.loads(run("report", *args, "--json"))
    assert data["scope"]["until"] == tomorrow and data["calls"] == 27
    open_offline(page, out)
    assert shown(page, "spent") == format_usd(data["spent"])
    assert f"session {ledger}" in page.locator("header").inner_text()


def write_log(path: Path) -> Path:
    rows = [{"id": "hello", "prompt": "hi there"},
            {"id": "capital", "prompt": "What is the capital of Peru?"},
            {"id": "proof", "prompt": "Prove that there are infinitely many primes."},
            {"id": "code", "prompt": "Write a Python function that merges two sorted lists."},
            {"id": "hostile", "prompt": HOSTILE + " x" * 400}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n",
                    encoding="utf-8")
    return path


def test_audit_page_shows_the_json_figures_offline(page, tmp_path, shot, offline):
    log = write_log(tmp_path / "usage.jsonl")
    out = tmp_path / "audit.html"
    CliRunner().invoke(cli, ["audit", str(log), "--html", str(out)], catch_exceptions=False)
    data = json.loads(run("audit", str(log), "--json", "--summary"))
    assert data["prompts"] == 5 and data["bad_rows"] == 1

    requested = open_offline(page, out)
    assert requested == [out.as_uri()], f"the page fetched more than itself: {requested}"
    cheap, premium = data["cheapest_tier"], data["premium_tier"]
    assert shown(page, "routed") == format_usd(data["routed"]["cost_usd"])
    assert shown(page, "premium") == format_usd(data["always"][premium]["cost_usd"])
    assert shown(page, "cheap") == format_usd(data["always"][cheap]["cost_usd"])
    assert shown(page, "savings_vs_premium_usd") == format_usd(data["savings_vs_premium_usd"])
    assert shown(page, "savings_vs_premium_pct") == f"({data['savings_vs_premium_pct']:.1f}%)"
    assert shown(page, "prompts") == "5"
    tiers = page.locator("#tier-share .barrow").all_inner_texts()
    assert [f"{t['prompts']:,} prompt" in text for text, t in
            zip(tiers, data["per_tier"], strict=True)] == [True] * len(tiers)

    # The most expensive prompts, in the JSON's order, with the hostile one as plain text.
    ids = page.locator("#top-prompts tbody tr td:first-child").all_inner_texts()
    assert ids == [p["id"] for p in data["top_prompts"]]
    assert page.locator("script").count() == 0 and page.locator("main img").count() == 0
    hostile = page.locator("#top-prompts tr", has_text="hostile").inner_text()
    assert '<script>alert("x")</script>' in hostile and "…" in hostile

    width, height = size_of(page, "#cost-curve")
    assert width > 500 and height > 150
    for line in ("polyline.routed", "polyline.premium", "polyline.cheap"):
        assert size_of(page, f"#cost-curve {line}")[0] > 300, line
    bars = page.locator("#cost-bars rect.fill")
    assert bars.count() == 1 + len(data["tiers"])
    assert all(bars.nth(i).bounding_box()["width"] > 0 for i in range(bars.count()))
    shot(page, "audit-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    assert fits_the_width(page), "the audit page scrolls sideways on a phone"
    shot(page, "audit-phone")


@pytest.mark.parametrize("viewport", [1280, 390])
def test_chart_amounts_are_drawn_inside_the_chart(page, tmp_path, viewport):
    """Tiny amounts make the longest y-axis labels ("$0.0000805"): they were cut at the
    chart's right edge."""
    from app.commands.html.page import line_chart
    from app.commands.html.page import page as html_page

    chart = line_chart([0.0, 1.0, 2.0], [("premium", "all-premium", [0.0, 0.00004, 0.0000805]),
                                         ("routed", "routed", [0.0, 0.00001, 0.00002])],
                       ("start", "end"), "tiny-chart", "spend", shade_between=(0, 1))
    path = tmp_path / "chart.html"
    path.write_text(html_page("chart", "", chart, ""), encoding="utf-8")
    page.set_viewport_size({"width": viewport, "height": 900})
    open_offline(page, path)
    box = page.locator("#tiny-chart").bounding_box()
    labels = page.locator("#tiny-chart .grid text")
    assert labels.count() == 5 and "$0.0000805" in (labels.first.text_content() or "")
    for i in range(labels.count()):
        b = labels.nth(i).bounding_box()
        assert box["x"] - 0.5 <= b["x"] and b["x"] + b["width"] <= box["x"] + box["width"] + 0.5
    assert box["width"] <= 640.5  # not blown up past its drawn size on a wide screen
