"""RouteLLM routing metrics (app.core.evaluation.metrics) and the ``routedeck eval`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.core.evaluation import metrics
from app.core.evaluation.metrics import Outcome

FIXTURE = Path(__file__).parent / "fixtures" / "routing_small.jsonl"


def _outcomes(cheap, premium, costs=None):
    costs = costs or [(0.0, 1.0)] * len(cheap)
    return [Outcome(c, p, cc, pc, "g") for c, p, (cc, pc) in zip(cheap, premium, costs, strict=True)]


def test_design_worked_example():
    outs = _outcomes([1, 0, 1, 0], [1, 1, 1, 1])
    cv = metrics.curve(outs, [0.1, 0.9, 0.2, 0.8])
    assert cv.fractions == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert cv.pgr == pytest.approx((0.0, 0.5, 1.0, 1.0, 1.0))
    assert metrics.apgr(cv) == pytest.approx(0.75)
    assert metrics.cpt(cv, 0.5) == pytest.approx(0.25)
    assert metrics.cpt(cv, 0.8) == pytest.approx(0.40)
    m = metrics.router_metrics(outs, [0.1, 0.9, 0.2, 0.8])
    assert (m.apgr, m.cpt50, m.cpt80) == pytest.approx((0.75, 0.25, 0.40))
    # Premium-only quality is 1, so 98% needs both cheap failures fixed: 2 premium calls of 4.
    assert m.cost98 == pytest.approx(0.5)


def test_tie_block_moves_together_with_a_straight_line():
    outs = _outcomes([1, 0, 1, 0], [1, 1, 1, 1])
    # The two prompts premium fixes share a score with one it does not: one block of three.
    cv = metrics.curve(outs, [0.1, 0.9, 0.9, 0.9])
    assert cv.fractions == (0.0, 0.75, 1.0)
    assert cv.pgr == pytest.approx((0.0, 1.0, 1.0))
    # Trapezoid over the block: 0.75 * (0 + 1) / 2 + 0.25 * 1.
    assert metrics.apgr(cv) == pytest.approx(0.625)
    # Inside the block the curve is linear: half the gain at half of 0.75.
    assert metrics.cpt(cv, 0.5) == pytest.approx(0.375)


def test_tie_order_does_not_matter():
    outs = _outcomes([0, 1, 0, 1, 0], [1, 1, 1, 0, 1])
    a = metrics.router_metrics(outs, [0.5, 0.5, 0.2, 0.5, 0.1])
    b = metrics.router_metrics(list(reversed(outs)), [0.1, 0.5, 0.2, 0.5, 0.5])
    assert a == b


def test_all_tied_router_equals_random_expectation():
    outs = _outcomes([1, 0, 0, 1, 0, 1], [1, 1, 0, 1, 1, 1])
    m = metrics.router_metrics(outs, [0.3] * 6)
    assert m.apgr == pytest.approx(0.5)
    r = metrics.random_metrics(outs)
    assert (r.apgr, r.cpt50, r.cpt80) == (0.5, 0.5, 0.8)


def test_degenerate_dataset_reports_none():
    outs = _outcomes([1, 0, 1], [0, 1, 1])  # same mean quality on both tiers
    m = metrics.router_metrics(outs, [0.2, 0.9, 0.5])
    assert m.apgr is None and m.cpt50 is None and m.cpt80 is None
    assert m.notes
    assert metrics.random_metrics(outs).apgr is None
    assert metrics.oracle_metrics(outs).apgr is None
    # Always-cheap already reaches premium-only quality, at no premium cost.
    assert metrics.fixed_metrics(outs, premium=False).cost98 == pytest.approx(0.0)


def test_baselines():
    outs = _outcomes([1, 0, 1, 0], [1, 1, 1, 1])
    res = metrics.compare(outs, [0.1, 0.9, 0.2, 0.8])
    assert res["oracle"].apgr == pytest.approx(0.75)  # this router is already perfect
    assert res["always-premium"].cost98 == pytest.approx(1.0)
    assert res["always-cheap"].cost98 is None  # 50% quality never reaches 98%
    assert res["always-cheap"].apgr is None
    # Random needs 0.96 of the four prompts in expectation: a whole number of calls, so all 4.
    assert res["random"].cost98 == pytest.approx(1.0)


def test_oracle_beats_any_order_and_can_exceed_one():
    # Premium loses on one prompt: skipping it makes PGR overshoot 1 in the middle.
    outs = _outcomes([0, 0, 1, 1], [1, 1, 0, 1])
    o = metrics.oracle_metrics(outs)
    assert o.apgr > 1.0
    for scores in ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.9, 0.1, 0.5, 0.3]):
        assert metrics.router_metrics(outs, scores).apgr <= o.apgr + 1e-12


def test_cost_at_quality_inside_a_tie_block():
    outs = _outcomes([0] * 10, [1] * 10)
    # One block of ten: 98% of premium quality needs ten calls; 50% would need five.
    cv = metrics.curve(outs, [0.5] * 10)
    assert metrics.cost_at_quality(cv) == pytest.approx(1.0)
    assert metrics.cost_at_quality(cv, 0.5) == pytest.approx(0.5)
    assert metrics.cost_at_quality(cv, 0.41) == pytest.approx(0.5)


def test_cost_uses_per_row_costs():
    outs = _outcomes([0, 1], [1, 1], costs=[(1.0, 3.0), (1.0, 5.0)])
    m = metrics.router_metrics(outs, [0.9, 0.1])
    # Sending only the first prompt up reaches full quality: cost 3 + 1 of premium-only 8.
    assert m.cost98 == pytest.approx(4.0 / 8.0)


def test_row_costs_sources():
    assert metrics.row_costs({"cheap_cost_usd": 0.1, "premium_cost_usd": 0.4}, "x")[2] == "per-call cost"
    prices = {"cheap_price_per_mtok_in": 1.0, "cheap_price_per_mtok_out": 2.0,
              "premium_price_per_mtok_in": 10.0, "premium_price_per_mtok_out": 30.0,
              "premium_output_chars": 400}
    cc, pc, how = metrics.row_costs(prices, "a" * 400)
    assert how == "list prices"
    assert cc == pytest.approx((100 * 1.0 + metrics.DEFAULT_OUTPUT_TOKENS * 2.0) / 1e6)
    assert pc == pytest.approx((100 * 10.0 + 100 * 30.0) / 1e6)
    assert metrics.row_costs({}, "x") == (0.0, 1.0, "uniform")


def test_outcome_from_row_needs_scores():
    assert metrics.outcome_from_row({"prompt": "x", "cheap_score": 1}, "x") is None
    assert metrics.outcome_from_row({"cheap_score": True, "premium_score": 1}, "x") is None
    o = metrics.outcome_from_row({"cheap_score": 0, "premium_score": 1, "source": "s",
                                   "dataset": "d"}, "x")
    assert o.group == "s/d" and o.gain == 1


def test_by_group_has_overall():
    outs = [Outcome(0, 1, group="a"), Outcome(1, 1, group="a"), Outcome(0, 1, group="b"),
            Outcome(1, 0, group="b")]
    table = metrics.by_group(outs, [0.9, 0.1, 0.5, 0.4])
    assert list(table) == ["a", "b", "overall"]
    outs = [Outcome(0, 1, group="s/x"), Outcome(1, 1, group="s/y"), Outcome(0, 1, group="t/z")]
    table = metrics.by_group(outs, [0.9, 0.1, 0.5])
    assert list(table) == ["s/x", "s/y", "t/z", "s/*", "overall"]
    assert table["s/*"]["router"].n == 2
    assert table["overall"]["router"].n == 3


def test_empty_input_is_an_error():
    with pytest.raises(ValueError):
        metrics.curve([], [])


# --- the CLI ---------------------------------------------------------------------------


def _run(*args):
    from app.commands.eval import eval_cmd

    return CliRunner().invoke(eval_cmd, list(args), catch_exceptions=False)


@pytest.mark.parametrize("strategy", ["learned", "rules"])
def test_eval_cli_json(strategy):
    res = _run(str(FIXTURE), "--json", "--strategy", strategy)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["strategy"] == strategy
    # The fixture's prompts come from the training data: the learned router says so.
    assert data["in_sample"] is (strategy == "learned")
    assert "overall" in data["groups"]
    overall = data["groups"]["overall"]
    assert set(overall) == {"router", "score-only", "random", "always-cheap", "always-premium",
                            "oracle"}
    assert overall["random"]["apgr"] == 0.5
    assert data["skipped"] == 2  # one malformed line, one without scores
    assert "routellm/mmlu" in data["groups"]


@pytest.mark.parametrize("strategy", ["learned", "rules"])
def test_eval_cli_table(strategy):
    res = _run(str(FIXTURE), "--strategy", strategy, "--cv")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "APGR" in out and "CPT(50%)" in out and "cost@98%" in out
    for name in ("random", "always-cheap", "always-premium", "oracle", f"{strategy} (this)"):
        assert name in out
    assert "CROSS-VALIDATED" in out
    assert "malformed JSON" in res.stderr and ":3:" in res.stderr
    assert "no numeric cheap_score/premium_score" in res.stderr


def test_eval_cli_flags_in_sample(tmp_path, monkeypatch):
    from app.commands import eval as eval_mod

    monkeypatch.setattr(eval_mod, "_model_meta",
                        lambda: {"data_sha256": __import__("hashlib").sha256(
                            FIXTURE.read_bytes()).hexdigest()})
    res = _run(str(FIXTURE), "--strategy", "learned")
    assert "IN-SAMPLE" in res.stdout


def test_eval_cli_plot_without_matplotlib(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    res = CliRunner().invoke(__import__("app.commands.eval", fromlist=["eval_cmd"]).eval_cmd,
                             [str(FIXTURE), "--plot", str(tmp_path / "c.png")])
    assert res.exit_code == 1
    assert "matplotlib" in res.stderr


def test_eval_cli_no_labelled_rows(tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("hello there\nprove that 2 is prime\n")
    res = _run(str(f))
    assert res.exit_code == 1
    assert "no labelled rows" in res.stderr
