"""Train the learned routing classifier shipped in app/core/routing/model/.

    .venv/bin/python training/train_router.py [--data PATH] [--out DIR] [--seed N]
    (same as ``routedeck train``)

Reads ONLY the training file (never the evaluation-only AlpacaEval file). First trains the
task classifier (training/train_tasks.py), whose probabilities are features of the router;
then fits an L2-regularised logistic regression in NumPy on the features of
app/core/routing/features.py. Honest figures come from two places (see ``train``): k-fold CV
on the dev rows, on which every choice was made, and the locked split (training/split.py),
scored once by a model fitted on all dev rows. Duplicate prompts (normalised text) always
share a fold; the vocabulary is rebuilt from each fold's training rows. Writes
``router.json.gz``, ``tasks.json.gz``, ``training_report.json`` / ``.md`` (training/report.py)
and ``calibration.json.gz``: every row's out-of-fold score with its outcomes and costs, so
``routedeck calibrate`` can fit a threshold before the user has any verdicts.

Dense features have a shared weight plus one per prompt layout (multiple choice, few-shot,
numeric problem, free text; see features.form_of); words have a shared weight plus one for
quizzes only (FORM_NGRAM_LAYOUTS: the other layouts' own word weights did not pay, see the
report). Datasets are weighted n^-0.3 so MMLU does not drown the rest.

Target. The score means "how likely the premium tier answers better". Each row's label is the
premium model's advantage mapped onto 0..1, t = (1 + premium_score - cheap_score) / 2, fitted
with cross-entropy: the model's probability then estimates the expected gain of sending the
prompt up, which is exactly what orders the RouteLLM curve. Ties (both right or both wrong)
sit at 0.5 and teach "no gain". The raw probability is then recalibrated (a 1-D logistic fit
on out-of-fold scores against "premium strictly better"), so the score keeps its meaning and
thresholds and `routedeck calibrate` keep working.

Deterministic: fold assignment and vocabulary order come from the seed and sorted data; the
optimiser is full-batch; weights are rounded before writing, and the gzip header carries no
timestamp, so the same data and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.config.settings import Settings  # noqa: E402
from app.core.evaluation import metrics, overlap  # noqa: E402
from app.core.evaluation import sample as shipped_sample  # noqa: E402
from app.core.routing import demands, features, labels, learned, policy, tasktype  # noqa: E402
from app.core.routing.types import TASK_LABELS, Classification  # noqa: E402
from training import split, train_tasks  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing" / "train.jsonl"
DEFAULT_OUT = ROOT / "app" / "core" / "routing" / "model"
MODEL_FILE = learned.MODEL_FILE
CALIBRATION_FILE = learned.CALIBRATION_FILE
FORBIDDEN = "eval-only"

MIN_DF = 3
MAX_VOCAB = 15_000
L2 = 3e-4
ITERS = 250
FOLDS = 5
WEIGHT_POWER = 0.3
FORM_NGRAMS = True
# Layouts that get their own word weights (next to the shared ones); see TRIED.
FORM_NGRAM_LAYOUTS = ("choice",)
FORM_DENSE = True
# LLMRouter's "premium" (nemotron-51b) is a weak premium: its gains describe a different tier
# pair than a cheap/GPT-4-class deployment, so its rows count half.
SOURCE_WEIGHT = {"llmrouter": 0.5}
CATEGORY_SMOOTHING = 0.0
WEIGHT_DECIMALS = 4
# The calibration sample keeps scores to 4 decimals (finer than any threshold anyone sets) and
# costs to 4 significant digits (they are fractions of a cent, so fixed decimals would zero them).
SAMPLE_DECIMALS = 4
COST_DIGITS = 4


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def load_rows(path: Path) -> list[dict]:
    if FORBIDDEN in path.name:
        raise SystemExit(f"refusing to train on {path.name}: evaluation-only data")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            if isinstance(r.get("prompt"), str) and r.get("cheap_score") is not None \
                    and r.get("premium_score") is not None:
                rows.append(r)
    return rows


def group_of(r: dict) -> str:
    return f"{r.get('source') or '?'}/{r.get('dataset') or '?'}"


class Featurised:
    """Features of every row, computed once: dense pairs, n-gram sets, and what the policy
    needs to score the row as the app would (task type, demands, layout)."""

    def __init__(self, rows: list[dict]):
        self.dense = []
        self.grams = []
        self.forms = []
        self.policy = []  # (task, demands, domain, form, prepared prompt)
        self.n_grams = []  # the prompt's own distinct words and pairs (for their value)
        for r in rows:
            text = r["prompt"]
            prep = features.prepare(text)
            guess = tasktype.guess(prep)
            d, form = features.active(text, guess.probs, prep)
            fired = demands.detect(prep, guess.task)
            self.policy.append((guess.task, fired, demands.expert_domain(prep), form, prep))
            self.dense.append(d)
            grams = set(prep.grams)
            self.n_grams.append(len(grams))
            if FORM_NGRAMS and form in FORM_NGRAM_LAYOUTS:
                grams.update([f"{form}|{g}" for g in prep.grams])
            self.grams.append(grams)
            self.forms.append(features.FORMS.index(form))


def build_vocab(grams: list[set[str]], idx: np.ndarray) -> list[str]:
    df: Counter[str] = Counter()
    for i in idx:
        df.update(grams[i])
    terms = [t for t, c in df.items() if c >= MIN_DF]
    terms.sort(key=lambda t: (-df[t], t))
    return sorted(terms[:MAX_VOCAB])


def dense_columns() -> int:
    """Shared dense weights, then (with FORM_DENSE) one more copy per prompt layout."""
    return len(features.DENSE) * (1 + len(features.FORMS) if FORM_DENSE else 1)


def matrix(feats: Featurised, idx: np.ndarray, vocab: dict[str, int]):
    """CSR-like triplets (row, col, value) for the rows in idx."""
    nd = dense_columns()
    base = len(features.DENSE)
    rows, cols, vals = [], [], []
    for k, i in enumerate(idx):
        offset = base * (1 + feats.forms[i])
        for j, v in feats.dense[i]:
            rows.append(k)
            cols.append(j)
            vals.append(v)
            if FORM_DENSE:
                rows.append(k)
                cols.append(offset + j)
                vals.append(v)
        g = feats.grams[i]
        val = features.ngram_value(feats.n_grams[i])
        for t in g:
            c = vocab.get(t)
            if c is not None:
                rows.append(k)
                cols.append(nd + c)
                vals.append(val)
    return (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
            np.asarray(vals, dtype=np.float64), len(idx), nd + len(vocab))


def fit(X, target: np.ndarray, weight: np.ndarray, l2: float = L2, iters: int = ITERS):
    """Weighted logistic regression (soft targets) by full-batch Adam; returns (w, bias)."""
    r, c, v, n, d = X
    w = np.zeros(d)
    b = float(np.log((target @ weight + 1e-6) / ((1 - target) @ weight + 1e-6)))
    m, s = np.zeros(d + 1), np.zeros(d + 1)
    wsum = weight.sum()
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    for t in range(1, iters + 1):
        z = np.bincount(r, weights=v * w[c], minlength=n) + b
        p = 1.0 / (1.0 + np.exp(-z))
        g = (p - target) * weight / wsum
        grad_w = np.bincount(c, weights=v * g[r], minlength=d) + l2 * w
        grad = np.append(grad_w, g.sum())
        m = beta1 * m + (1 - beta1) * grad
        s = beta2 * s + (1 - beta2) * grad * grad
        step = lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + 1e-8)
        w -= step[:-1]
        b -= step[-1]
    return w, b


def predict(X, w: np.ndarray, b: float) -> np.ndarray:
    r, c, v, n, _ = X
    z = np.bincount(r, weights=v * w[c], minlength=n) + b
    return z


def targets(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(soft target in 0..1, "premium strictly better" 0/1)."""
    gain = np.array([r["premium_score"] - r["cheap_score"] for r in rows], dtype=np.float64)
    return np.clip((1.0 + gain) / 2.0, 0.0, 1.0), (gain > 1e-9).astype(np.float64)


def smoothed_target(rows: list[dict], target: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Training targets for the rows in idx, shrunk toward their category's mean where the
    category is finer than the dataset (MMLU subjects). A 0/1 outcome per question is noisy;
    the subject's mean gain, computed from these same training rows only, is not, and the
    subject is visible in the text. Held-out rows never contribute to the means."""
    out = target.copy()
    if CATEGORY_SMOOTHING <= 0:
        return out
    cats: dict[str, set[str]] = {}
    for r in rows:
        cats.setdefault(group_of(r), set()).add(str(r.get("category")))
    sums: dict[str, list[float]] = {}
    for i in idx:
        r = rows[i]
        if len(cats[group_of(r)]) > 1:
            acc = sums.setdefault(f"{group_of(r)}/{r.get('category')}", [0.0, 0.0])
            acc[0] += target[i]
            acc[1] += 1.0
    for i in idx:
        r = rows[i]
        acc = sums.get(f"{group_of(r)}/{r.get('category')}")
        if acc:
            out[i] = (1 - CATEGORY_SMOOTHING) * target[i] + CATEGORY_SMOOTHING * acc[0] / acc[1]
    return out


def row_weights(rows: list[dict]) -> np.ndarray:
    """MMLU alone is half the file: weight each dataset by n^-WEIGHT_POWER so small ones count
    (0 would keep MMLU's dominance, 1 would let 141 HumanEval rows weigh as much as it)."""
    counts = Counter(group_of(r) for r in rows)
    w = np.array([counts[group_of(r)] ** -WEIGHT_POWER * SOURCE_WEIGHT.get(r.get("source"), 1.0)
                  for r in rows])
    return w * (len(rows) / w.sum())


def assign_folds(rows: list[dict], k: int, seed: int) -> np.ndarray:
    """Fold per row; equal normalised prompts share a fold; balanced within each dataset."""
    rng = np.random.default_rng(seed)
    by_group: dict[str, dict[str, list[int]]] = {}
    for i, r in enumerate(rows):
        key = hashlib.sha1(normalise(r["prompt"]).encode()).hexdigest()
        by_group.setdefault(group_of(r), {}).setdefault(key, []).append(i)
    folds = np.zeros(len(rows), dtype=np.int64)
    seen: dict[str, int] = {}
    for g in sorted(by_group):
        keys = sorted(by_group[g])
        perm = rng.permutation(len(keys))
        for pos, ki in enumerate(perm):
            key = keys[ki]
            fold = seen.setdefault(key, pos % k)  # same prompt in two datasets: one fold
            for i in by_group[g][key]:
                folds[i] = fold
    return folds


def calibrate(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """1-D logistic fit a*z + c against the 0/1 label (Newton's method)."""
    a, c = 1.0, 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * z + c, -30, 30)))
        # A small ridge keeps tiny, separable samples (the tests) from diverging.
        g = np.array([((p - y) * z).sum() + 1e-3 * a, (p - y).sum()])
        h = p * (1 - p)
        hess = np.array([[(h * z * z).sum() + 1e-3, (h * z).sum()],
                         [(h * z).sum(), h.sum() + 1e-6]])
        da, dc = np.linalg.solve(hess, g)
        a, c = a - da, c - dc
        if abs(da) + abs(dc) < 1e-10:
            break
    return float(a), float(c)


def fit_predict(rows, feats, target, weight, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Fit on rows tr (vocabulary and target smoothing from them alone), logits for rows te."""
    vocab = {t: j for j, t in enumerate(build_vocab(feats.grams, tr))}
    w, b = fit(matrix(feats, tr, vocab), smoothed_target(rows, target, tr)[tr], weight[tr])
    return predict(matrix(feats, te, vocab), w, b)


def cv_logits(rows, feats, target, weight, idx: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Out-of-fold logits for the rows idx (k folds among them, see assign_folds)."""
    folds = assign_folds([rows[i] for i in idx], k, seed)
    z = np.zeros(len(idx))
    for f in range(k):
        te = np.where(folds == f)[0]
        if len(te):
            z[te] = fit_predict(rows, feats, target, weight, idx[folds != f], idx[te])
    return z


def shipped_scores(feats: Featurised, idx, z: np.ndarray, cal: tuple[float, float],
                   settings: Settings, bands: bool = False) -> list[float]:
    """Scores as the app reports them for these rows (their logits z) at the default config:
    calibrated, the greeting ceiling of app.core.routing.learned, then the task policy
    (policy.policy_score), exactly as route() computes them; ``bands``: the threshold-free
    form `routedeck calibrate` fits thresholds on."""
    p = 1.0 / (1.0 + np.exp(-np.clip(cal[0] * z + cal[1], -30, 30)))
    out = []
    for i, pi in zip(idx, p, strict=True):
        task, fired, domain, form, prep = feats.policy[i]
        s = learned.apply_guards(prep, float(pi), [])[0]
        c = Classification(task, s, 0.0, (), 0.0, "learned", task_label=TASK_LABELS[task],
                           demands=fired, domain=domain, form=form)
        out.append(policy.policy_score(c, settings, len(prep.text), bands))
    return out


def metrics_table(rows: list[dict], scores: np.ndarray) -> dict:
    outs = [metrics.outcome_from_row(r, r["prompt"]) for r in rows]
    return table_of(outs, [float(s) for s in scores])


def table_of(outcomes: list[metrics.Outcome], scores: list[float]) -> dict:
    table = metrics.by_group(outcomes, scores)
    return {g: {name: m.to_dict() for name, m in v.items()} for g, v in table.items()}


def _sig(x: float) -> float:
    return float(f"{x:.{COST_DIGITS}g}")


def calibration_payload(rows: list[dict], scores: list[float], model_bytes: bytes) -> dict:
    """The out-of-fold calibration sample, one compact row per training row:
    [score, cheap_score, premium_score, cheap_cost, premium_cost, group index].

    score is what the app would report for that prompt had it not been trained on it:
    the fold model's logit, the shipped calibration (a*z + c, fitted on all out-of-fold
    logits), then learned.apply_guards (short-hard floor and greeting ceiling), i.e. the
    scale of learned.scorer() and of classify(). Costs come from metrics.row_costs; groups
    are "source/dataset" names stored once in ``groups``. ``model_sha256`` ties the sample to
    the weights written alongside, so a sample left over from another model is not used."""
    groups = sorted({group_of(r) for r in rows})
    index = {g: i for i, g in enumerate(groups)}
    data = []
    for r, s in zip(rows, scores, strict=True):
        cc, pc, _ = metrics.row_costs(r, r["prompt"])
        data.append([round(float(s), SAMPLE_DECIMALS),
                     round(float(r["cheap_score"]), SAMPLE_DECIMALS),
                     round(float(r["premium_score"]), SAMPLE_DECIMALS),
                     _sig(cc), _sig(pc), index[group_of(r)]])
    return {
        "format": "routedeck-calibration-sample",
        "columns": ["score", "cheap_score", "premium_score", "cheap_cost", "premium_cost",
                    "group"],
        "groups": groups,
        "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "rows": data,
    }


def serialise(vocab: list[str], w: np.ndarray, b: float, cal: tuple[float, float], meta: dict):
    nd = dense_columns()
    base = len(features.DENSE)
    dense_w = {name: round(float(w[i]), WEIGHT_DECIMALS) for i, (name, _) in enumerate(features.DENSE)}
    dense_by_form = {
        f: {name: round(float(w[base * (1 + k) + i]), WEIGHT_DECIMALS)
            for i, (name, _) in enumerate(features.DENSE)}
        for k, f in enumerate(features.FORMS)
    } if FORM_DENSE else {}
    ngram_w: dict[str, float] = {}
    by_form: dict[str, dict[str, float]] = {f: {} for f in features.FORMS}
    for j, t in enumerate(vocab):
        val = round(float(w[nd + j]), WEIGHT_DECIMALS)
        if val == 0.0:
            continue
        form, sep, gram = t.partition("|")
        if sep:
            by_form[form][gram] = val
        else:
            ngram_w[t] = val
    named = sorted(g for g in {*ngram_w, *(k for t in by_form.values() for k in t)}
                   if labels.meaningful_gram(g)
                   and max(abs(ngram_w.get(g, 0.0) + t.get(g, 0.0)) for t in by_form.values())
                   > learned._NAMED_MIN)
    return {
        "format": "routedeck-router",
        "feature_version": features.FEATURE_VERSION,
        "named": named,
        "bias": round(b, 6),
        "calibration": [round(cal[0], 6), round(cal[1], 6)],
        "dense": dense_w,
        "dense_by_form": dense_by_form,
        "ngrams": ngram_w,
        "ngrams_by_form": by_form,
        "meta": meta,
    }


def write_gz(path: Path, payload: dict) -> None:
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with path.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                              compresslevel=9) as gz:
        gz.write(raw)


# Evidence quoted in explanations: (key, groups "source/dataset[/category]", name). Keys
# are a task type, or "expert:<domain>". GPT-4-class pairs are preferred (LLMRouter's
# premium is a weak one), and only dev rows are counted.
_LAW = ("professional_law", "jurisprudence", "international_law")
_MED = ("clinical_knowledge", "professional_medicine", "college_medicine", "medical_genetics",
        "anatomy", "nutrition", "virology")
_FIN = ("professional_accounting", "econometrics", "high_school_macroeconomics",
        "high_school_microeconomics")
EVIDENCE = (
    ("expert:legal", tuple(f"routellm/mmlu/{c}" for c in _LAW), "professional-law questions"),
    ("expert:medical", tuple(f"routellm/mmlu/{c}" for c in _MED), "medical exam questions"),
    ("expert:financial", tuple(f"routellm/mmlu/{c}" for c in _FIN),
     "accounting and economics questions"),
    ("expert", tuple(f"routellm/mmlu/{c}" for c in _LAW + _MED + _FIN),
     "professional exam questions"),
    ("proof", ("routellm/mmlu/abstract_algebra", "routellm/mmlu/college_mathematics",
               "routellm/mmlu/college_physics"), "college maths and physics questions"),
    ("calculation", ("routellm/gsm8k",), "GSM8K word problems"),
    ("code_write", ("routerbench/mbpp",), "MBPP coding tasks"),
    ("logic", ("routellm/mmlu/formal_logic", "routerbench/winogrande"),
     "formal-logic and Winogrande questions"),
    ("factual", ("routerbench/arc-challenge",), "ARC science questions"),
    ("analysis", ("arena_bench_v1/arena_bench_v1",), "open Chatbot Arena requests"),
    ("code_debug", ("arena_bench_v1/arena_bench_v1",), "open Chatbot Arena requests"),
)


def evidence_table(rows: list[dict], dev: np.ndarray) -> dict:
    """{key: {name, n, premium_more}}: premium_more = share of rows premium won minus the
    share cheap won, on dev rows of the listed groups."""
    out = {}
    for key, groups, name in EVIDENCE:
        sel = [rows[i] for i in dev
               if group_of(rows[i]) in groups
               or f"{group_of(rows[i])}/{rows[i].get('category')}" in groups]
        if not sel:
            continue
        gain = np.array([r["premium_score"] - r["cheap_score"] for r in sel])
        out[key] = {"name": name, "n": len(sel),
                    "premium_more": round(float((gain > 1e-9).mean() - (gain < -1e-9).mean()), 3)}
    return out


def train(data: Path, out: Path, seed: int = 0, folds: int = FOLDS, cv: bool = True,
          log=print) -> dict:
    """Train the task classifier and the router; with ``cv``, the figures and report too.

    Figures: ``cv`` = k-fold CV on the dev rows (what every choice was made on),
    ``locked`` = a model fitted on all dev rows scoring the locked rows (20%, training/split.py).
    Shipped weights are then fitted on every row; the calibration sample holds every row's
    out-of-fold score (k folds over all rows) on the shipped scale."""
    from training import report as reporting

    t0 = time.time()
    rows = load_rows(data)
    rows.sort(key=lambda r: str(r.get("id")))
    log(f"{len(rows)} rows from {data}")
    out.mkdir(parents=True, exist_ok=True)
    task_payload, task_report = train_tasks.train(rows, log=log)
    write_gz(out / train_tasks.MODEL_FILE, task_payload)
    with reporting.using_models(out):
        feats = Featurised(rows)
    target, strict = targets(rows)
    weight = row_weights(rows)
    locked = np.array(split.locked_mask(rows), dtype=bool)
    dev, lk = np.where(~locked)[0], np.where(locked)[0]
    everything = np.arange(len(rows))
    settings = Settings()
    report: dict = {
        "data": data.name, "rows": len(rows),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "seed": seed, "folds": folds, "locked_rows": int(len(lk)),
        "target": "(1 + premium_score - cheap_score) / 2 with cross-entropy, then a 1-D "
                  "calibration to P(premium strictly better)",
        "hyper": {"min_df": MIN_DF, "max_vocab": MAX_VOCAB, "l2": L2, "iters": ITERS,
                  "weight_power": WEIGHT_POWER, "source_weight": SOURCE_WEIGHT,
                  "category_smoothing": CATEGORY_SMOOTHING, "layout_weights": FORM_NGRAMS,
                  "layout_word_weights": list(FORM_NGRAM_LAYOUTS)},
        "tasks": task_report,
    }
    cal = (1.0, 0.0)
    sample_scores: list[float] = []
    if cv:
        z_dev = cv_logits(rows, feats, target, weight, dev, folds, seed)
        cal_dev = calibrate(z_dev, strict[dev])
        z_lk = fit_predict(rows, feats, target, weight, dev, lk)
        report["cv"] = metrics_table([rows[i] for i in dev],
                                     shipped_scores(feats, dev, z_dev, cal_dev, settings))
        report["cv_model_only"] = metrics_table([rows[i] for i in dev], z_dev)
        report["locked"] = metrics_table([rows[i] for i in lk],
                                         shipped_scores(feats, lk, z_lk, cal_dev, settings))
        report["locked_model_only"] = metrics_table([rows[i] for i in lk], z_lk)
        log(f"dev CV and locked split done in {time.time() - t0:.0f}s")
        z_all = cv_logits(rows, feats, target, weight, everything, folds, seed)
        cal = calibrate(z_all, strict)
        sample_scores = shipped_scores(feats, everything, z_all, cal, settings, bands=True)
    vocab_list = build_vocab(feats.grams, everything)
    vocab = {t: j for j, t in enumerate(vocab_list)}
    w, b = fit(matrix(feats, everything, vocab), smoothed_target(rows, target, everything), weight)
    meta = {"seed": seed, "rows": len(rows), "data_sha256": report["data_sha256"],
            "evidence": evidence_table(rows, dev)}
    payload = serialise(vocab_list, w, b, cal, meta)
    write_gz(out / MODEL_FILE, payload)
    # Fingerprints of the training prompts: `routedeck eval` reports how much of a file the
    # model has seen, whatever the file is called or however it was cut.
    overlap.write(out / overlap.FILE, (r["prompt"] for r in rows))
    report["model"] = {"file": MODEL_FILE, "bytes": (out / MODEL_FILE).stat().st_size,
                       "task_file": train_tasks.MODEL_FILE,
                       "task_bytes": (out / train_tasks.MODEL_FILE).stat().st_size,
                       "ngrams": len(payload["ngrams"]) + sum(
                           len(v) for v in payload["ngrams_by_form"].values()),
                       "dense": len(payload["dense"])}
    if cv:
        sample = calibration_payload(rows, sample_scores, (out / MODEL_FILE).read_bytes())
        write_gz(out / CALIBRATION_FILE, sample)
        outs, scores = shipped_sample.sample_outcomes(sample)
        report["sample"] = table_of(outs, scores)
        report["calibration_sample"] = {"file": CALIBRATION_FILE,
                                        "bytes": (out / CALIBRATION_FILE).stat().st_size,
                                        "rows": len(scores)}
        reporting.policy_parts(report, out, settings)
        (out / "training_report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (out / "training_report.md").write_text(reporting.markdown(report))
    log(f"wrote {out / MODEL_FILE} ({report['model']['bytes']} bytes) in {time.time() - t0:.0f}s")
    return report


def _fmt(v) -> str:
    return "n.a." if v is None else f"{v:.3f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=FOLDS)
    ap.add_argument("--no-cv", action="store_true", help="skip cross-validation (faster)")
    ap.add_argument("--refresh-report", action="store_true",
                    help="only recompute the report's seed table, everyday set and task "
                         "accuracy with the current code and the weights in --out")
    args = ap.parse_args(argv)
    if args.refresh_report:
        from training import report as reporting

        reporting.refresh(args.out)
        return
    report = train(args.data, args.out, args.seed, args.folds, cv=not args.no_cv)
    for g in report.get("cv", {}):
        cv_r, lk = report["cv"][g]["router"], report["locked"].get(g, {}).get("router", {})
        print(f"{g:<34} n={cv_r['n']:>5}  CV APGR {_fmt(cv_r['apgr'])}  "
              f"locked {_fmt(lk.get('apgr'))}")


if __name__ == "__main__":
    main()
