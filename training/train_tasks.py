"""Train the task classifier shipped as app/core/routing/model/tasks.json.gz.

    .venv/bin/python training/train_tasks.py      (also run by `routedeck train`)

A multinomial logistic regression over the words, word pairs and marker tokens of
app.core.routing.tasks, fitted on two kinds of labelled prompts:

* training/data/task_examples.tsv: prompts written by hand for every task type (the only
  source for types the benchmarks lack: greetings, extraction, rewrites, expert review ...);
* weak labels from train.jsonl: the dataset (and MMLU subject) names say what kind of task
  a benchmark prompt is (GSM8K = calculation, MBPP = code write, logic grids = logic puzzle).
  Only dev rows (never the locked split) and at most WEAK_PER_GROUP per group, each counting
  their weight capped per type (WEAK_SHARE), so the benchmarks' layouts do not drown the hand-written examples.

Accuracy is measured by cross-validation over the hand-written examples (the weak rows stay
in every training fold) and on the everyday set (training/data/everyday.tsv), which is never
trained on. Weights are pruned (small per-class weights dropped) so inference stays a few
dictionary lookups per word.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.routing import features, tasks  # noqa: E402
from training import split  # noqa: E402

EXAMPLES = ROOT / "training" / "data" / "task_examples.tsv"
EVERYDAY = ROOT / "training" / "data" / "everyday.tsv"
EVERYDAY_BLIND = ROOT / "training" / "data" / "everyday_blind.tsv"
MODEL_FILE = "tasks.json.gz"
L2 = 3e-4
ITERS = 150
MIN_DF = 1
WEAK_PER_GROUP = 60
WEAK_SHARE = 0.5
LR = 0.1
PRUNE = 0.1
TOKEN_MIN = 0.2
FOLDS = 5

# dataset (or "dataset/category") -> task type.
WEAK = {
    "gsm8k": "calculation", "agentverse-mgsm": "calculation",
    "math": "proof", "mbpp": "code_write", "human_eval": "code_write",
    "agentverse-logicgrid": "logic", "commongen": "creative",
    "natural_qa": "factual", "trivia_qa": "factual", "arc_challenge": "factual",
    "arc-challenge": "factual", "openbook_qa": "factual", "commonsense_qa": "factual",
    "mmlu": "factual",
}
# MMLU subjects are not mapped to other types (law to expert review, algebra to proofs ...):
# they are all knowledge quizzes, and with several subjects per label the quiz layout itself
# was learned as the sign of that label (most of MMLU came out "calculation").


def read_tsv(path: Path) -> list[list[str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            out.append([c.replace("\\n", "\n") for c in line.split("\t")])
    return out


def examples() -> list[tuple[str, str]]:
    return [(p, t) for t, p in read_tsv(EXAMPLES)]


def everyday(path: Path = EVERYDAY) -> list[dict]:
    """A kept-apart everyday set (EVERYDAY, or EVERYDAY_BLIND): never trained on."""
    cols = ("half", "tier", "task", "short_hard", "prompt", "why")
    return [dict(zip(cols, r, strict=True)) for r in read_tsv(path)]


def halves(path: Path = EVERYDAY) -> list[str]:
    """The parts of an everyday set in file order: dev, holdout (and dev2, holdout2 ...)."""
    return list(dict.fromkeys(e["half"] for e in everyday(path)))


def weak_rows(rows: list[dict]) -> list[tuple[str, str]]:
    """Up to WEAK_PER_GROUP dev prompts per weak label group, in a fixed order."""
    locked = split.locked_mask(rows)
    groups: dict[str, list[str]] = {}
    for r, lock in zip(rows, locked, strict=True):
        if lock:
            continue
        ds = r.get("dataset") or ""
        key = f"{ds}/{r.get('category')}"
        label = WEAK.get(key) or WEAK.get(ds)
        if label is None or r.get("source") == "arena_bench_v1":
            continue
        groups.setdefault(f"{label}|{key if key in WEAK else ds}", []).append(r["prompt"])
    out = []
    for g in sorted(groups):
        label = g.split("|", 1)[0]
        prompts = sorted(set(groups[g]), key=split._key)[:WEAK_PER_GROUP]
        out += [(p, label) for p in prompts]
    return out


def tokens_of(prompts: list[str]) -> list[set[str]]:
    return [tasks.task_tokens(features.prepare(p)) for p in prompts]


def fit(toks: list[set[str]], y: np.ndarray, weight: np.ndarray, k: int):
    """Softmax regression by full-batch Adam (deterministic); returns (vocab, W, b)."""
    df = Counter(t for s in toks for t in s)
    vocab = sorted(t for t, c in df.items() if c >= MIN_DF)
    index = {t: i for i, t in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for i, s in enumerate(toks):
        v = features.ngram_value(len(s))
        for t in sorted(s):
            j = index.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
                vals.append(v)
    r, c, val = np.array(rows), np.array(cols), np.array(vals)
    n, d = len(toks), len(vocab)
    # Sparse products by segment sums: entries sorted by row for X @ W, by column for X.T @ G.
    by_col = np.argsort(c, kind="stable")
    rc, cc, vc = r[by_col], c[by_col], val[by_col]
    row_start = np.searchsorted(r, np.arange(n))
    col_ids, col_start = np.unique(cc, return_index=True)
    w, b = np.zeros((d, k)), np.zeros(k)
    onehot = np.eye(k)[y]
    m = [np.zeros_like(w), np.zeros_like(b)]
    s2 = [np.zeros_like(w), np.zeros_like(b)]
    wn = weight / weight.sum()
    for it in range(1, ITERS + 1):
        z = np.add.reduceat(val[:, None] * w[c], row_start) + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) * wn[:, None]
        gw = L2 * w
        gw[col_ids] += np.add.reduceat(vc[:, None] * g[rc], col_start)
        for idx, (param, grad) in enumerate(((w, gw), (b, g.sum(0)))):
            m[idx] = 0.9 * m[idx] + 0.1 * grad
            s2[idx] = 0.999 * s2[idx] + 0.001 * grad * grad
            param -= LR * (m[idx] / (1 - 0.9**it)) / (np.sqrt(s2[idx] / (1 - 0.999**it)) + 1e-8)
    return vocab, w, b


def balanced_weights(y_ex: np.ndarray, y_weak: np.ndarray, k: int) -> np.ndarray:
    """Weak rows of one type weigh, together, at most WEAK_SHARE of that type's hand-written
    examples: they teach benchmark layouts without outvoting the examples."""
    n_ex = np.bincount(y_ex, minlength=k).astype(float)
    n_weak = np.bincount(y_weak, minlength=k).astype(float)
    per = np.where(n_weak > 0, WEAK_SHARE * n_ex / np.maximum(n_weak, 1), 0.0)
    return np.concatenate([np.ones(len(y_ex)), per[y_weak]])


def predict(model, toks: list[set[str]]) -> np.ndarray:
    vocab, w, b = model
    index = {t: i for i, t in enumerate(vocab)}
    out = np.zeros((len(toks), len(b)))
    for i, s in enumerate(toks):
        js = [index[t] for t in s if t in index]
        out[i] = b + (w[js].sum(0) * features.ngram_value(len(s)) if js else 0.0)
    return out


def predict_pruned(payload: dict, prompts: list[str]) -> np.ndarray:
    """Predictions of the runtime form of a model, as the app computes them."""
    from app.core.routing import tasktype

    m = tasktype.TaskModel(payload)
    return np.array([int(np.argmax(m.logits(features.prepare(p)))) for p in prompts])


def prune(model) -> dict:
    """Runtime form: the tokens whose largest weight reaches TOKEN_MIN, each with its row
    of weights (entries under PRUNE set to 0), as float32 bytes in base64 (row-major, one
    row per token). On the everyday set the pruned model is as accurate as the full one,
    and loading it is one base64 decode."""
    import base64
    from array import array

    vocab, w, b = model
    keep = [i for i, row in enumerate(w) if np.abs(row).max() >= TOKEN_MIN]
    rows = np.where(np.abs(w[keep]) >= PRUNE, np.round(w[keep], 3), 0.0)
    flat = array("f", rows.astype(np.float32).ravel().tolist())
    return {"format": "routedeck-tasks", "tasks": list(tasks.TASK_IDS),
            "bias": [round(float(x), 4) for x in b],
            "tokens": "\n".join(vocab[i] for i in keep),
            "weights_f32": base64.b64encode(flat.tobytes()).decode()}


def confusion(gold: list[str], pred: list[str]) -> dict:
    out: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred, strict=True):
        if g != p:
            out.setdefault(g, Counter())[p] += 1
    return {g: dict(c.most_common()) for g, c in sorted(out.items())}


def train(rows: list[dict], log=print) -> tuple[dict, dict]:
    """(runtime model payload, report)."""
    k = len(tasks.TASK_IDS)
    ex = examples()
    weak = weak_rows(rows)
    ex_toks, weak_toks = tokens_of([p for p, _ in ex]), tokens_of([p for p, _ in weak])
    y_ex = np.array([tasks.TASK_INDEX[t] for _, t in ex])
    y_weak = np.array([tasks.TASK_INDEX[t] for _, t in weak])
    # Cross-validated accuracy on the hand-written examples (weak rows in every fold).
    fold = np.arange(len(ex)) % FOLDS
    pred = np.zeros(len(ex), dtype=int)
    for f in range(FOLDS):
        tr = np.where(fold != f)[0]
        te = np.where(fold == f)[0]
        mdl = fit([ex_toks[i] for i in tr] + weak_toks, np.concatenate([y_ex[tr], y_weak]),
                  balanced_weights(y_ex[tr], y_weak, k), k)
        pred[te] = predict_pruned(prune(mdl), [ex[i][0] for i in te])
    full = fit(ex_toks + weak_toks, np.concatenate([y_ex, y_weak]),
               balanced_weights(y_ex, y_weak, k), k)
    payload = prune(full)
    ids = tasks.TASK_IDS
    cv_gold = [t for _, t in ex]
    cv_pred = [ids[i] for i in pred]
    report = {
        "examples": len(ex), "weak_rows": len(weak),
        "weak_by_type": dict(sorted(Counter(t for _, t in weak).items())),
        "cv_accuracy": round(float(np.mean([a == b for a, b in zip(cv_gold, cv_pred, strict=True)])), 3),
        "cv_confusion": confusion(cv_gold, cv_pred),
        "hyper": {"l2": L2, "iters": ITERS, "weak_per_group": WEAK_PER_GROUP,
                  "weak_share": WEAK_SHARE, "lr": LR, "prune": PRUNE,
                  "token_min": TOKEN_MIN},
        "tokens": payload["tokens"].count("\n") + 1,
    }
    log(f"task classifier: CV accuracy {report['cv_accuracy']:.3f} on {len(ex)} examples "
        f"(+{len(weak)} weak rows), {report['tokens']} tokens kept")
    return payload, report


if __name__ == "__main__":
    import gzip

    data = [json.loads(line) for line in (ROOT.parent / "shared" / "data" / "routing" /
                                          "train.jsonl").open(encoding="utf-8")]
    payload, rep = train(data)
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    out = ROOT / "app" / "core" / "routing" / "model" / MODEL_FILE
    with out.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(raw)
    print(json.dumps(rep, indent=1))
