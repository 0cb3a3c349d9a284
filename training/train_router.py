"""Train the learned routing classifier shipped in app/core/routing/model/.

    .venv/bin/python training/train_router.py [--data PATH] [--out DIR] [--seed N]
    (same as ``routedeck train``)

Reads ONLY the training file (never the evaluation-only AlpacaEval file), fits an L2-regularised
logistic regression in NumPy on the features of app/core/routing/features.py, cross-validates it with
k folds (duplicate prompts, after normalising text, always share a fold so nothing leaks; the
vocabulary and any target smoothing are rebuilt from each fold's training rows), and writes
``router.json.gz`` plus ``training_report.json`` / ``training_report.md`` and, with
cross-validation, ``calibration.json.gz``: every training row's out-of-fold score with its
outcomes and costs, so ``routedeck calibrate`` can fit a threshold before the user has
collected any verdicts (see ``calibration_payload``).

Every feature has a shared weight plus one per prompt layout (multiple choice, few-shot,
numeric problem, free text; see features.form_of), so a word or a length can mean different
things in a quiz and in a chat request. Datasets are weighted n^-0.3 so MMLU does not drown
the rest.

Target. The score means "how likely the premium tier answers better". Each row's label is the
premium model's advantage mapped onto 0..1, t = (1 + premium_score - cheap_score) / 2, fitted
with cross-entropy: the model's probability then estimates the expected gain of sending the
prompt up, which is exactly what orders the RouteLLM curve. Ties (both right or both wrong)
sit at 0.5 and teach "no gain". The raw probability is then recalibrated (a 1-D logistic fit
on out-of-fold scores against "premium strictly better") so 0.5 keeps its meaning as the
default threshold.

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

from app.core.evaluation import metrics  # noqa: E402
from app.core.evaluation import sample as shipped_sample  # noqa: E402
from app.core.routing import features, learned, tasktype  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "routing" / "train.jsonl"
DEFAULT_OUT = ROOT / "app" / "core" / "routing" / "model"
MODEL_FILE = learned.MODEL_FILE
CALIBRATION_FILE = learned.CALIBRATION_FILE
FORBIDDEN = "eval-only"

MIN_DF = 2
MAX_VOCAB = 100_000
L2 = 3e-4
ITERS = 250
FOLDS = 5
WEIGHT_POWER = 0.3
FORM_NGRAMS = True
FORM_DENSE = True
# LLMRouter's "premium" (nemotron-51b) is a weak premium: its gains describe a different tier
# pair than a cheap/GPT-4-class deployment, so its rows count half.
SOURCE_WEIGHT = {"llmrouter": 0.5}
CATEGORY_SMOOTHING = 0.5
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
    """Features of every row, computed once: dense pairs and n-gram sets."""

    def __init__(self, rows: list[dict]):
        self.dense = []
        self.grams = []
        self.forms = []
        for r in rows:
            text = r["prompt"]
            prep = features.prepare(text)
            d, form = features.active(text, tasktype.detect(text, prep), prep)
            self.dense.append(d)
            grams = set(prep.grams)
            if FORM_NGRAMS:
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
        val = features.ngram_value(len(g) // 2 if FORM_NGRAMS else len(g))
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


def cv_scores(rows, feats, target, weight, folds, k) -> np.ndarray:
    z = np.zeros(len(rows))
    for f in range(k):
        tr, te = np.where(folds != f)[0], np.where(folds == f)[0]
        vocab = {t: j for j, t in enumerate(build_vocab(feats.grams, tr))}
        w, b = fit(matrix(feats, tr, vocab), smoothed_target(rows, target, tr)[tr], weight[tr])
        z[te] = predict(matrix(feats, te, vocab), w, b)
    return z


def shipped_scores(rows: list[dict], z: np.ndarray, cal: tuple[float, float]) -> list[float]:
    """Out-of-fold scores as the app would report them: calibrated, then the guards of
    app.core.routing.learned (short-hard floor, greeting ceiling) applied."""
    p = 1.0 / (1.0 + np.exp(-np.clip(cal[0] * z + cal[1], -30, 30)))
    return [learned.apply_guards(features.prepare(r["prompt"]), float(pi), [])[0]
            for r, pi in zip(rows, p, strict=True)]


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
    return {
        "format": "routedeck-router",
        "feature_version": features.FEATURE_VERSION,
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


# Experiments that did not ship, so nobody repeats them blind. Model-only 5-fold CV APGR,
# seed 0, against the v10 features (MMLU .672, GSM8K .646, arena .534, RouterBench .627,
# LLMRouter .734, overall .686).
TRIED = (
    "answer-option features for quizzes (option lengths, numeric options, 'all of the above', "
    "NOT/EXCEPT stem, stem length): MMLU .675-.677 in this harness, .674 in the shipped "
    "pipeline at +19 us p50 routing time, .672 once made cheap; dropped",
    "the same word-problem / request features for every layout instead of per layout: "
    "GSM8K .637-.642 (worse), MMLU .674",
    "two models (P(cheap right), P(premium right)), score = difference, alone or added: "
    "MMLU .674-.675, GSM8K .643-.645, Winogrande -.005",
    "gradient-boosted trees (30 x depth 3) on dense features + the linear logit: MMLU .676, "
    "GSM8K .624, Winogrande .444",
    "MMLU subject from words: target-encoded word means .672-.674; naive-Bayes subject "
    "posterior (70% accurate) x subject gain, added to the logit: .677 (a perfect subject "
    "oracle would give .690)",
    "hyper-parameters: subject smoothing 0.8 (.669), L2 1e-3 (.660) / 1e-4 (.672, LLMRouter "
    ".708), 400 iterations (no change)",
)


def _fmt(v) -> str:
    return "n.a." if v is None else f"{v:.3f}"


def _sample_note(report: dict) -> list[str]:
    s = report.get("calibration_sample")
    if not s:
        return []
    return [f"Every figure but model-only is computed from `{s['file']}` ({s['rows']} rows, "
            f"{s['bytes']} bytes), the out-of-fold sample `routedeck calibrate` uses before "
            "the user has verdicts: scores rounded to 4 decimals, costs to 4 significant "
            "digits.", ""]


def report_markdown(report: dict) -> str:
    lines = [
        "# Learned router: training report",
        "",
        f"Data: `{report['data']}` ({report['rows']} rows, sha256 {report['data_sha256'][:16]}...).",
        f"Seed {report['seed']}; {report['folds']}-fold cross-validation, duplicate prompts "
        "(normalised text) kept in one fold; vocabulary rebuilt inside each fold.",
        "",
        "Cross-validated (out-of-fold) figures. APGR of a random router is 0.500; "
        "CPT = premium-call share needed for that share of the possible gain; cost@98% = cost of "
        "reaching 98% of premium-only quality, as a share of premium-only cost.",
        "",
        f"Target: {report['target']}. Hyper-parameters: `{json.dumps(report['hyper'], sort_keys=True)}`.",
        "",
        "Scores are the ones the app reports: calibrated, then the short-hard guard (short proofs "
        "and advanced maths/science go to premium) and the greeting ceiling applied. The guard "
        "costs a little ranking quality; the model-only column shows how much.",
        "",
        *_sample_note(report),
        "| dataset | n | APGR | model-only APGR | random | oracle | CPT(50%) | CPT(80%) | cost@98% | gap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in sorted(report["cv"], key=lambda g: (g == "overall", g.endswith("/*"), g)):
        m = report["cv"][g]
        r = m["router"]
        raw = report.get("cv_model_only_apgr", {}).get(g)
        gap = r["quality_premium"] - r["quality_cheap"]
        lines.append(f"| {g} | {r['n']} | {_fmt(r['apgr'])} | {_fmt(raw)} | {_fmt(m['random']['apgr'])} | "
                     f"{_fmt(m['oracle']['apgr'])} | {_fmt(r['cpt50'])} | {_fmt(r['cpt80'])} | "
                     f"{_fmt(r['cost98'])} | {gap:+.3f}{'*' if abs(gap) < metrics.ILL_CONDITIONED_GAP else ''} |")
    lines += [
        "",
        "gap = premium-only minus cheap-only quality. PGR divides by it: where it is under (*) "
        f"{metrics.ILL_CONDITIONED_GAP} APGR is ill-conditioned (even the oracle's can be negative). "
        "`<source>/*` rows pool that source's datasets.",
        "",
        "Dataset identity is never an input: features are computed from the prompt text "
        "alone, as at inference. Some features (multiple-choice layout, answer cues, length) "
        "do reveal a prompt's source form, which is legitimate because the same text is "
        "available when routing; it helps pooled ranking, not ranking within one dataset.",
        "",
        f"Model: {report['model']['ngrams']} word/pair weights (shared and per layout) + "
        f"{report['model']['dense']} named features (shared and per layout); file "
        f"{report['model']['file']} ({report['model']['bytes']} bytes).",
        "",
        "Tried and not shipped (model-only CV APGR; see `TRIED` in the training script):",
        "",
        *[f"- {t}" for t in TRIED],
        "",
    ]
    return "\n".join(lines)


def train(data: Path, out: Path, seed: int = 0, folds: int = FOLDS, cv: bool = True,
          log=print) -> dict:
    t0 = time.time()
    rows = load_rows(data)
    rows.sort(key=lambda r: str(r.get("id")))
    log(f"{len(rows)} rows from {data}")
    feats = Featurised(rows)
    target, strict = targets(rows)
    weight = row_weights(rows)
    report: dict = {
        "data": data.name,
        "rows": len(rows),
        "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
        "seed": seed,
        "folds": folds,
        "target": "(1 + premium_score - cheap_score) / 2 with cross-entropy (MMLU rows shrunk "
                  "halfway to their subject's mean within each training fold), then a 1-D "
                  "calibration to P(premium strictly better)",
        "hyper": {"min_df": MIN_DF, "max_vocab": MAX_VOCAB, "l2": L2, "iters": ITERS,
                  "weight_power": WEIGHT_POWER, "source_weight": SOURCE_WEIGHT,
                  "category_smoothing": CATEGORY_SMOOTHING, "layout_weights": FORM_NGRAMS},
    }
    cal = (1.0, 0.0)
    sample_scores: list[float] = []
    if cv:
        fold_of = assign_folds(rows, folds, seed)
        z = cv_scores(rows, feats, target, weight, fold_of, folds)
        cal = calibrate(z, strict)
        sample_scores = shipped_scores(rows, z, cal)
        # The guards trade a little ranking quality for safety on short hard prompts; the
        # model's own figures show what that trade costs.
        report["cv_model_only_apgr"] = {
            g: m["router"]["apgr"] for g, m in metrics_table(rows, z).items()}
        log(f"cross-validation done in {time.time() - t0:.0f}s")
    vocab_list = build_vocab(feats.grams, np.arange(len(rows)))  # all rows: no held-out part
    vocab = {t: j for j, t in enumerate(vocab_list)}
    everything = np.arange(len(rows))
    w, b = fit(matrix(feats, everything, vocab), smoothed_target(rows, target, everything), weight)
    payload = serialise(vocab_list, w, b, cal, {"seed": seed, "rows": len(rows),
                                                "data_sha256": report["data_sha256"]})
    out.mkdir(parents=True, exist_ok=True)
    write_gz(out / MODEL_FILE, payload)
    if cv:
        sample = calibration_payload(rows, sample_scores, (out / MODEL_FILE).read_bytes())
        write_gz(out / CALIBRATION_FILE, sample)
        # The report's CV figures are computed from the shipped sample itself (rounded scores,
        # scores and costs), so `routedeck calibrate` on it sees exactly these curves.
        outs, scores = shipped_sample.sample_outcomes(sample)
        report["cv"] = table_of(outs, scores)
        report["calibration_sample"] = {"file": CALIBRATION_FILE,
                                        "bytes": (out / CALIBRATION_FILE).stat().st_size,
                                        "rows": len(scores)}
    report["model"] = {"file": MODEL_FILE, "bytes": (out / MODEL_FILE).stat().st_size,
                       "ngrams": len(payload["ngrams"]) + sum(
                           len(v) for v in payload["ngrams_by_form"].values()),
                       "dense": len(payload["dense"])}
    if cv:
        (out / "training_report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (out / "training_report.md").write_text(report_markdown(report))
    log(f"wrote {out / MODEL_FILE} ({report['model']['bytes']} bytes) in {time.time() - t0:.0f}s")
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=FOLDS)
    ap.add_argument("--no-cv", action="store_true", help="skip cross-validation (faster)")
    args = ap.parse_args(argv)
    report = train(args.data, args.out, args.seed, args.folds, cv=not args.no_cv)
    for g, m in report.get("cv", {}).items():
        r = m["router"]
        print(f"{g:<34} n={r['n']:>5}  APGR {_fmt(r['apgr'])}  (oracle {_fmt(m['oracle']['apgr'])})")


if __name__ == "__main__":
    main()
