"""The learned router: shipped weights, guards, explanations, features and training."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest

from app.core.config.settings import Settings
from app.core.evaluation import metrics
from app.core.evaluation import sample as shipped_sample
from app.core.routing import features, labels, learned, tasktype
from app.core.routing.classify import classify
from app.core.routing.policy import route

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "routing_small.jsonl"

HARD = [
    "Prove that sqrt(2) is irrational.",
    "Show that there are infinitely many primes p ≡ 3 mod 4.",
    "Derive the Schrödinger equation for a particle in a box.",
    "Prove that every finite group of prime order is cyclic.",
    "Compute the eigenvalues of the Hamiltonian of a spin-1/2 particle in a magnetic field.",
]
CHEAP = ["hi", "thanks!", "what is the capital of France?", "Hello there", "thank you"]


def test_shipped_model_loads_and_is_small():
    path = learned.MODEL_DIR / learned.MODEL_FILE
    assert path.is_file()
    assert path.stat().st_size < 5 * 1024 * 1024
    assert learned.model() is not None
    assert learned.scorer() is not None
    report = json.loads((learned.MODEL_DIR / "training_report.json").read_text())
    assert report["data"] == "train.jsonl"
    assert "routellm/mmlu" in report["cv"] and "routellm/mmlu" in report["locked"]


def test_calibration_sample_matches_the_training_report():
    """The shipped out-of-fold sample is what the report's CV figures were computed from, so
    every dataset's router metrics recomputed from it are the report's, digit for digit."""
    sample = shipped_sample.calibration_sample()
    assert sample is not None
    outcomes, scores = sample
    report = json.loads((learned.MODEL_DIR / "training_report.json").read_text())
    assert len(outcomes) == len(scores) == report["rows"] == report["calibration_sample"]["rows"]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(o.cheap_cost <= o.premium_cost for o in outcomes)
    table = metrics.by_group(outcomes, scores)
    assert set(table) == set(report["sample"])
    for group, group_metrics in table.items():
        assert group_metrics["router"].to_dict() == report["sample"][group]["router"], group
    # Same scale as route(): prompts the task policy sends up sit in the top band, short
    # routine ones it keeps cheap in the bottom band.
    from app.core.routing.policy import BOTTOM_BAND, TOP_BAND

    assert sum(s >= TOP_BAND for s in scores) > 50
    assert any(0.0 < s < BOTTOM_BAND for s in scores)
    path = learned.MODEL_DIR / learned.CALIBRATION_FILE
    assert path.stat().st_size < 1024 * 1024
    total = sum(f.stat().st_size for f in learned.MODEL_DIR.iterdir())
    assert total < 5 * 1024 * 1024


def test_calibration_sample_is_refused_for_other_weights(tmp_path):
    assert shipped_sample.calibration_sample(tmp_path) is None  # missing
    for name in (learned.MODEL_FILE, learned.CALIBRATION_FILE):
        (tmp_path / name).write_bytes((learned.MODEL_DIR / name).read_bytes())
    assert shipped_sample.calibration_sample(tmp_path) is not None
    (tmp_path / learned.MODEL_FILE).write_bytes(b"other weights")
    assert shipped_sample.calibration_sample(tmp_path) is None


@pytest.mark.parametrize("prompt", HARD)
def test_short_hard_prompts_reach_premium(prompt):
    from app.core.routing.policy import route

    d = route(prompt, Settings(router={"escalate_keywords": []}))
    assert d.strategy == "learned"
    assert d.tier == "premium" and d.score >= d.threshold, (prompt, d.reason, d.signals)


@pytest.mark.parametrize("prompt", CHEAP)
def test_simple_prompts_stay_cheap(prompt):
    c = classify(prompt)
    assert c.strategy == "learned"
    assert c.score < 0.5, (prompt, c.score)


def test_route_uses_learned_by_default_and_rules_on_request():
    from app.core.routing.policy import route

    assert route("hi", Settings()).strategy == "learned"
    assert route("hi", Settings(router={"strategy": "rules"})).strategy == "rules"
    # Without the "prove" escalation keyword, the score alone must carry it to the top tier.
    s = Settings(router={"escalate_keywords": []})
    d = route("Prove that sqrt(2) is irrational.", s)
    assert d.rule != "keyword"
    assert d.tier_index == len(s.tiers) - 1


_FEATURE_ID = re.compile(r"\b(f\d+|bucket|hash|dense\[|task_|len_|log_chars|q_log)\b")


@pytest.mark.parametrize("prompt", [
    "Compare the pros and cons of Rust versus Go for writing a high-throughput web server.",
    "What is the integral of x^2 sin(x) dx? Show every step.",
    "hi",
    "Write a short poem about the sea.",
    "Janet has 3 apples and buys 12 more at $2 each. How many dollars did she spend in total?",
])
def test_signals_are_words_and_real_contributions(prompt):
    c = classify(prompt)
    assert c.signals
    words = set(re.findall(r"[^\W\d_]+|\d+", prompt.lower()))
    for s in c.signals:
        assert not _FEATURE_ID.search(s.label), s.label
        m = re.fullmatch(r"mentions '(.+)'", s.label)
        if m:  # an n-gram signal names content words the prompt really contains
            assert set(m.group(1).split()) <= words, (s.label, prompt)
            assert labels.meaningful_gram(m.group(1)), s.label
        assert len(s.label) <= 30, s.label
        assert -1.0 < s.weight < 1.0
    assert len({s.label for s in c.signals}) == len(c.signals)


def test_signals_are_the_largest_real_terms():
    """Recompute every term of the logit from the weights: they add up to the score's logit,
    and the signals shown are the largest of them (scaled into probability points)."""
    m = learned.model()
    text = "Explain step by step how to solve a quadratic equation, and compare two methods."
    prep = features.prepare(text)
    task = tasktype.guess(prep).probs
    active, form = features.active(text, task, prep)
    dw = m.dense_form_w[form]
    terms = {labels.dense_label(i, v): m.cal_a * dw[i] * v for i, v in active if dw[i]}
    val = features.ngram_value(len(prep.grams))
    hidden = 0.0  # words that count but are never named ("to", "how", tiny weights)
    for g in prep.grams:
        w = m._combined(form).get(g, 0.0)
        if w:
            if labels.meaningful_gram(g) and abs(w) > learned._NAMED_MIN:
                terms[labels.ngram_label(g)] = m.cal_a * w * val
            else:
                hidden += m.cal_a * w * val
    logit, _ = m.logit_parts(text, task, prep)
    base = m.cal_a * m.bias + m.cal_c
    assert sum(terms.values()) + hidden == pytest.approx(logit - base)
    p, signals = m.score(text, task, prep)
    assert p == pytest.approx(1 / (1 + math.exp(-logit)))
    expected = sorted(terms, key=lambda k: -abs(terms[k]))[: len(signals)]
    # Shown with what in the prompt made each fire ("asks for steps 'step by'").
    shown = {labels.with_detail(k, prep): terms[k] for k in expected}
    assert [s.label for s in signals] == list(shown)
    for s in signals:
        assert s.weight * shown[s.label] > 0  # same sign as the term it explains


def test_scorer_is_deterministic_and_bounded():
    s = learned.scorer()
    for text in ["", " ", "x" * 20_000, "ÄÖÜ ß 中文 😀", "A. 1\nB. 2\nC. 3\nD. 4\nAnswer:"]:
        p1, sig1 = s(text)
        p2, sig2 = s(text)
        assert 0.0 <= p1 <= 1.0
        assert (p1, sig1) == (p2, sig2)


def test_missing_weights_fall_back_to_rules():
    with learned.SHIPPED.using(None):
        c = classify("Prove that sqrt(2) is irrational.")
    assert c.strategy == "rules"
    assert c.score > 0.5


def test_wrong_feature_version_is_refused(tmp_path):
    payload = json.loads(__import__("gzip").decompress(
        (learned.MODEL_DIR / learned.MODEL_FILE).read_bytes()))
    payload["feature_version"] = -1
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="retrain"):
        learned.load(bad)


def test_fewshot_focus_uses_the_final_question():
    shots = "\n\n".join(f"Q{i}: what is {i} plus {i}, counting carefully on your fingers "
                         f"and toes?\nAnswer: {2 * i}" for i in range(8))
    text = shots + "\n\nWhich planet is closest to the sun?\nAnswer:"
    prep = features.prepare(text)
    assert prep.fewshot
    assert "planet" in prep.words and "q1" not in prep.words


def test_layout_features_only_in_their_layout():
    """Word-problem features fire only on numeric problems, request features only on free
    text, and every one of them has a label in words."""
    cases = {
        "numeric": "Tom buys 3 pens at $2.50 each, then 4 more. How much did he spend in total?",
        "free": "Write a blog post about my trip:\n- must be 300 words\n- only simple words\nOK?",
        "choice": "Which of these is NOT prime?\nA. 2\nB. 3\nC. 4\nD. 5\nAnswer:",
    }
    prefixes = {"numeric": "wp_", "free": "req_"}
    for layout, text in cases.items():
        prep = features.prepare(text)
        active, form = features.active(text, tasktype.detect(text, prep), prep)
        assert form == layout
        names = {features.DENSE[i][0] for i, _ in active}
        own = {n for n in names if n.startswith(("wp_", "req_"))}
        assert all(n.startswith(prefixes[layout]) for n in own), (layout, own)
        assert bool(own) == (layout in prefixes), (layout, own)
        assert all(0.0 <= v <= 1.0 for _, v in active)
    assert all(label and "_" not in label.split("'")[0] for _, label in features.DENSE)


def test_task_classifier_is_shipped_and_covers_every_type():
    assert tasktype.model() is not None, tasktype.SHIPPED.error
    assert tasktype.detect("hi") == "greeting"
    assert tasktype.detect("Translate this into French: good night") == "translate"
    assert tasktype.detect("What is 12 * 7?") == "calculation"
    assert tasktype.detect("Write a poem about autumn") == "creative"
    assert tasktype.detect("Which river is the longest?") == "factual"
    g = tasktype.guess(features.prepare("Why does my Go program deadlock on this channel?"))
    assert g.task == "code_debug" and len(g.probs) == 15
    assert sum(g.probs) == pytest.approx(1.0)


# --- training ----------------------------------------------------------------------------


def _trainer():
    spec = importlib.util.spec_from_file_location("train_router_t", ROOT / "training" / "train_router.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_training_is_deterministic_on_a_small_sample(tmp_path, monkeypatch):
    trainer = _trainer()
    monkeypatch.setattr(trainer, "ITERS", 40)
    monkeypatch.setattr(trainer, "MIN_DF", 1)
    monkeypatch.setattr(trainer.train_tasks, "ITERS", 20)
    monkeypatch.setattr(trainer.train_tasks, "FOLDS", 2)
    data = tmp_path / "small.jsonl"
    good = [line for line in FIXTURE.read_text().splitlines()
            if '"cheap_score"' in line and line.endswith("}")]
    data.write_text("\n".join(good) + "\n")
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        trainer.train(data, out, seed=3, folds=2, log=lambda _msg: None)
        outs.append(out)
    for fname in ("router.json.gz", "tasks.json.gz", "calibration.json.gz",
                  "training_report.json", "training_report.md"):
        assert (outs[0] / fname).read_bytes() == (outs[1] / fname).read_bytes(), fname
    model = learned.load(outs[0] / "router.json.gz")
    p, _ = model.score("What is 2 + 2?")
    assert 0.0 <= p <= 1.0
    report = json.loads((outs[0] / "training_report.json").read_text())
    assert report["folds"] == 2 and "overall" in report["cv"]
    outcomes, scores = shipped_sample.calibration_sample(outs[0])
    assert len(outcomes) == len(scores) == report["rows"]


def test_training_refuses_eval_only_data(tmp_path):
    trainer = _trainer()
    f = tmp_path / "alpaca_eval.eval-only.jsonl"
    f.write_text('{"prompt": "x", "cheap_score": 0, "premium_score": 1}\n')
    with pytest.raises(SystemExit):
        trainer.load_rows(f)


def test_duplicate_prompts_share_a_fold():
    trainer = _trainer()
    rows = [{"prompt": p, "source": s, "dataset": "d"} for p, s in
            [("Same  prompt", "a"), ("same prompt", "a"), ("other", "a"), ("same prompt", "b"),
             ("x1", "a"), ("x2", "a"), ("x3", "b")]]
    folds = trainer.assign_folds(rows, 3, seed=0)
    assert folds[0] == folds[1] == folds[3]


def test_train_command_refuses_eval_only_data(tmp_path):
    from click.testing import CliRunner

    from app.commands.train import train

    f = tmp_path / "alpaca_eval.eval-only.jsonl"
    f.write_text('{"prompt": "x", "cheap_score": 0, "premium_score": 1}\n')
    res = CliRunner().invoke(train, ["--data", str(f), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "evaluation-only" in res.stderr
    assert not (tmp_path / "out").exists()


def test_signals_say_what_in_the_prompt_fired():
    # A user read "asks for code" on a cover letter and "several questions" on one question:
    # a word family is named by the word it met, question marks by their count.
    def labels(prompt):
        return [s.label for s in route(prompt, Settings()).signals]

    letter = labels("Write a cover letter for a backend role: I know Python and Go, 5 years in")
    assert not any(label.startswith("asks for code") for label in letter)
    # (the classifier's own signals: the routine rule shows only those that point down)
    from app.core.routing.classify import classify

    raft = classify("Explain how the Raft consensus algorithm handles a network partition")
    assert "code words 'algorithm'" in [s.label for s in raft.signals]
    one = labels("What's the capital of Australia?")
    assert "several questions" not in one and "question marks" not in one
    assert not any("'years'" in label or "'decided'" in label
                   for label in labels("We decided years ago to move: summarise the plan"))
