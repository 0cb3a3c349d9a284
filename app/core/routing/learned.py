"""Inference for the learned router: shipped weights -> score in [0, 1] and its explanation.

The model is a logistic regression over the features of ``app.core.routing.features`` (named dense
features and word n-grams), trained by ``training/train_router.py``. Pure Python: a few regexes,
one tokenisation and dictionary lookups, so a decision costs tens of microseconds.

Two guards sit on top of the model, because the training data cannot teach them: short,
plainly worded proofs and graduate-level science rarely appear in it, yet they are exactly the
prompts a cheap model gets wrong; and a bare greeting should never cost a premium call.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import threading
from collections.abc import Callable
from itertools import count, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from app.core.routing import features
from app.core.routing.types import Signal

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "router.json.gz"
# Out-of-fold scores and outcomes of the training rows (written by training/train_router.py
# with cross-validation; read by app.core.evaluation.sample), so thresholds can be calibrated
# before the user has any verdicts.
CALIBRATION_FILE = "calibration.json.gz"

# A short prompt that asks for a proof or advanced maths/science scores at least this much,
# comfortably above the default threshold 0.5 and its low-confidence band.
HARD_GUARD_FLOOR = 0.7
HARD_GUARD_MAX_CHARS = 600
# A bare greeting or thanks scores at most this.
GREETING_CEILING = 0.1
GREETING_MAX_CHARS = 40
MAX_SIGNALS = 5

Scorer = Callable[..., tuple[float, list[Signal]]]


class Model:
    """Weights in memory, laid out for fast lookups."""

    def __init__(self, payload: dict[str, Any]):
        if payload.get("format") != "routedeck-router":
            raise ValueError("not a RouteDeck router model")
        if payload.get("feature_version") != features.FEATURE_VERSION:
            raise ValueError(
                f"model built for features v{payload.get('feature_version')}, "
                f"code has v{features.FEATURE_VERSION}: retrain with `routedeck train`"
            )
        dense = payload["dense"]
        self.dense_w = [float(dense.get(name, 0.0)) for name, _ in features.DENSE]
        by_layout = payload.get("dense_by_form") or {}
        # Per-layout dense weights are folded into the shared ones once, at load time.
        self.dense_form_w: dict[str, list[float]] = {
            f: [w + float((by_layout.get(f) or {}).get(name, 0.0))
                for w, (name, _) in zip(self.dense_w, features.DENSE, strict=True)]
            for f in features.FORMS
        }
        self.ngram_w: dict[str, float] = {k: float(v) for k, v in payload["ngrams"].items()}
        # Word weights specific to a prompt layout (see features.form_of), added to the shared.
        by_form = payload.get("ngrams_by_form") or {}
        self.form_w: dict[str, dict[str, float]] = {
            f: {k: float(v) for k, v in (by_form.get(f) or {}).items()} for f in features.FORMS
        }
        self._combined_w: dict[str, dict[str, float]] = {}
        self.meta: dict[str, Any] = payload.get("meta") or {}
        self.bias = float(payload["bias"])
        self.cal_a, self.cal_c = (float(x) for x in payload["calibration"])

    def logit_parts(self, text: str, task_type: str, prep: features.Prepared
                    ) -> tuple[float, list[tuple[float, str, bool]]]:
        """Raw logit and each contribution (already scaled by the calibration slope)."""
        a = self.cal_a
        parts: list[tuple[float, str, bool]] = []  # (contribution, key, is n-gram)
        z = self.bias
        active, form = features.active(text, task_type, prep)
        dw = self.dense_form_w[form]
        for i, v in active:
            c = dw[i] * v
            if c:
                z += c
                parts.append((a * c, features.dense_label(i, v), False))
        grams = prep.grams
        val = features.ngram_value(len(grams))
        if grams:
            get = self._combined(form).get
            words = list(grams)
            ws = list(map(get, words, repeat(0.0, len(words))))
            # fsum is exact, so the score does not depend on the set's (per-process) order.
            z += val * math.fsum(ws)
            # Only the largest word terms can make the explanation's top list.
            scale = a * val
            parts.extend([(scale * w, g, True) for _, w, g in
                          heapq.nlargest(MAX_SIGNALS, zip(map(abs, ws), ws, words, strict=True))
                          if w])
        return a * z + self.cal_c, parts

    def _combined(self, form: str) -> dict[str, float]:
        """Shared plus layout word weights in one dict (one lookup per word), built the first
        time a layout is seen so start-up stays short."""
        table = self._combined_w.get(form)
        if table is None:
            table = dict(self.ngram_w)
            for g, w in self.form_w[form].items():
                table[g] = table.get(g, 0.0) + w
            self._combined_w[form] = table
        return table

    def score(self, text: str, task_type: str | None = None,
              prep: features.Prepared | None = None) -> tuple[float, list[Signal]]:
        prep = prep or features.prepare(text)
        if task_type is None:
            from app.core.routing import tasktype

            task_type = tasktype.detect(text, prep)
        logit, parts = self.logit_parts(text, task_type, prep)
        p = _sigmoid(logit)
        base_logit = self.cal_a * self.bias + self.cal_c
        signals = _explain(p, logit, base_logit, parts)
        return apply_guards(prep, p, signals)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_FIRST = itemgetter(0)


def _explain(p: float, logit: float, base_logit: float,
             parts: list[tuple[float, str, bool]]) -> list[Signal]:
    """Largest contributions, shown in probability points: each logit contribution times the
    average slope of the sigmoid between the model's baseline and this prompt's score."""
    if not parts:
        return []
    base_p = _sigmoid(base_logit)
    slope = (p - base_p) / (logit - base_logit) if abs(logit - base_logit) > 1e-9 else p * (1 - p)
    # Labels never collide (n-grams are distinct words; dense labels are sentences), so the
    # largest parts can be picked without merging.
    # Same pick as nlargest(key=abs of the contribution), ties to the earlier part, but the
    # keys come from C-level maps rather than a Python lambda per part.
    top = [part for _, _, part in heapq.nlargest(
        MAX_SIGNALS, zip(map(abs, map(_FIRST, parts)), count(0, -1), parts))]
    return [Signal(features.ngram_label(key) if is_gram else key, c * slope)
            for c, key, is_gram in top if abs(c * slope) >= 0.005]


def apply_guards(prep: features.Prepared, p: float,
                 signals: list[Signal]) -> tuple[float, list[Signal]]:
    """The short-hard floor and the greeting ceiling (see the module docstring)."""
    n = len(prep.text)
    if n <= HARD_GUARD_MAX_CHARS and p < HARD_GUARD_FLOOR and features.has_hard_marker(prep):
        bump = HARD_GUARD_FLOOR - p
        return HARD_GUARD_FLOOR, [Signal("short proof or advanced maths/science: kept "
                                         "off the cheap tier", bump), *signals]
    if n <= GREETING_MAX_CHARS and p > GREETING_CEILING and features.is_greeting(prep):
        drop = GREETING_CEILING - p
        return GREETING_CEILING, [Signal("just a greeting or thanks", drop), *signals]
    return p, signals


_lock = threading.Lock()
_model: Model | None = None
_loaded = False
load_error: str | None = None


def load(path: Path | None = None) -> Model:
    """Read a model file (gzipped or plain JSON)."""
    path = path or MODEL_DIR / MODEL_FILE
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return Model(json.loads(raw))


def model() -> Model | None:
    """The shipped model, loaded once per process; None if missing or unreadable."""
    global _model, _loaded, load_error
    if _loaded:
        return _model
    with _lock:
        if not _loaded:
            try:
                _model = load()
            except (OSError, ValueError, KeyError, TypeError) as exc:
                load_error = f"{type(exc).__name__}: {exc}"
                _model = None
            _loaded = True
    return _model


def scorer() -> Scorer | None:
    """``text -> (score, signals)`` (optionally ``task_type=``), or None without weights."""
    m = model()
    return m.score if m is not None else None
