"""Inference for the learned router: shipped weights -> score in [0, 1] and its explanation.

The model is a logistic regression over the features of ``app.core.routing.features`` (named dense
features, the task classifier's probabilities and word n-grams), trained by
``training/train_router.py``. Pure Python: one tokenisation and dictionary lookups, so a
decision costs tens of microseconds.

One guard sits on top of the model: a bare greeting or thanks never scores above
GREETING_CEILING. What the outcome data cannot teach (short proofs, expert review,
debugging, design work) is the task policy's job (policy.py), not a guard's.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from app.core.routing import features, followup, labels, lookup
from app.core.routing.shipped import Shipped
from app.core.routing.types import Signal

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "router.json.gz"
# Out-of-fold scores and outcomes of the training rows (written by training/train_router.py
# with cross-validation; read by app.core.evaluation.sample), so thresholds can be calibrated
# before the user has any verdicts.
CALIBRATION_FILE = "calibration.json.gz"

# A bare greeting or thanks scores at most this.
GREETING_CEILING = 0.1
GREETING_MAX_CHARS = 40
MAX_SIGNALS = 5
# Raw word weights smaller than this never make the explanation (they would show as
# +0.00): skipping them keeps the top-list selection cheap.
_NAMED_MIN = 0.05

Scorer = Callable[..., tuple[float, list[Signal]]]
_DENSE_LABELS = [label for _, label in features.DENSE]


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
        # Word weights as parsed (JSON numbers are floats already): shared ones, plus one
        # table per prompt layout (see features.form_of) looked up next to them.
        self.ngram_w: dict[str, float] = payload["ngrams"]
        by_form = payload.get("ngrams_by_form") or {}
        self.form_w: dict[str, dict[str, float]] = {f: by_form.get(f) or {} for f in features.FORMS}
        self._combined_w: dict[str, dict[str, float]] = {}
        # Words and pairs worth naming in an explanation (labels.meaningful_gram, with a
        # weight that can show), listed by the trainer so start-up need not test 30k of them.
        named = payload.get("named")
        self.named: frozenset[str] = frozenset(named) if named is not None else frozenset(
            g for g in {*self.ngram_w, *(k for t in self.form_w.values() for k in t)}
            if labels.meaningful_gram(g))
        # gram -> labels.meaningful_gram(gram), remembered for the named grams a prompt has
        # (the trainer lists only meaningful ones, but a payload's list is not trusted).
        self._meaningful: dict[str, bool] = {}
        self.meta: dict[str, Any] = payload.get("meta") or {}
        self.bias = float(payload["bias"])
        self.cal_a, self.cal_c = (float(x) for x in payload["calibration"])
        # The score of a prompt with no features: where every explanation is measured from.
        self.base_logit = self.cal_a * self.bias + self.cal_c
        self.base_p = _sigmoid(self.base_logit)

    def logit_parts(self, text: str, task_type, prep: features.Prepared,
                    active: tuple[list[tuple[int, float]], str] | None = None
                    ) -> tuple[float, list[tuple[float, str, bool]]]:
        """Calibrated logit and each contribution (already scaled by the calibration slope).
        ``active``: the prompt's features.active() result, when the caller has it already."""
        a = self.cal_a
        parts: list[tuple[float, str, bool]] = []  # (contribution, key, is n-gram)
        z = self.bias
        dense_active, form = active or features.active(text, task_type, prep)
        dw = self.dense_form_w[form]
        labels = _DENSE_LABELS
        for i, v in dense_active:
            c = dw[i] * v
            if c:
                z += c
                parts.append((a * c, labels[i], False))
        grams = prep.grams
        if grams:
            val = features.ngram_value(len(grams))
            # fsum is exact, so the score does not depend on the set's (per-process) order.
            # Only words worth naming can become signals (never "to" or "its"); the score
            # still counts every word.
            if lookup.INDEX.router is self:
                words, big = self._words_indexed(prep, form)
            else:
                words, big = self._words(grams, form)
            z += val * words
            scale = a * val
            if big:
                big.sort(reverse=True)
                parts.extend([(scale * w, g, True) for _, w, g in big[:MAX_SIGNALS]])
        return a * z + self.cal_c, parts

    def _words(self, grams: set[str], form: str) -> tuple[float, list[tuple[float, float, str]]]:
        """(sum of the grams' weights, (|w|, w, gram) of those worth naming)."""
        get = self._combined(form).get
        total = math.fsum(map(get, grams, repeat(0.0, len(grams))))
        # The nameable ones are found by one set intersection.
        big = [(abs(w), w, g) for g in self.named.intersection(grams)
               if ((w := get(g, 0.0)) > _NAMED_MIN or w < -_NAMED_MIN) and self._nameable(g)]
        return total, big

    def _words_indexed(self, prep: features.Prepared, form: str
                       ) -> tuple[float, list[tuple[float, float, str]]]:
        """The same from the prompt's records in the merged index (lookup.py)."""
        recs = lookup.records(prep)
        weight = itemgetter(lookup.WEIGHT[form])
        total = math.fsum(map(weight, recs))
        big = [(abs(w), w, rec[lookup.NAMED]) for rec in filter(lookup.named_of, recs)
               if (w := weight(rec)) > _NAMED_MIN or w < -_NAMED_MIN]
        return total, big

    def layout_weight(self, gram: str, form: str) -> float:
        """A word's weight in a layout, as _combined(form) holds it (for lookup.py)."""
        w = self.ngram_w.get(gram, 0.0)
        extra = self.form_w[form].get(gram)
        return w if extra is None else w + extra

    def _nameable(self, gram: str) -> bool:
        ok = self._meaningful.get(gram)
        if ok is None:
            ok = self._meaningful[gram] = labels.meaningful_gram(gram)
        return ok

    def _combined(self, form: str) -> dict[str, float]:
        """Shared plus layout word weights in one dict (one lookup per word), built the first
        time a layout is seen (a few milliseconds), so start-up stays short."""
        table = self._combined_w.get(form)
        if table is None and not self.form_w[form]:
            table = self._combined_w[form] = self.ngram_w  # no words of its own: no copy
        if table is None:
            table = dict(self.ngram_w)
            for g, w in self.form_w[form].items():
                table[g] = table.get(g, 0.0) + w
            self._combined_w[form] = table
        return table

    def score(self, text: str, task_type=None, prep: features.Prepared | None = None,
              shift: float = 0.0, active: tuple[list[tuple[int, float]], str] | None = None
              ) -> tuple[float, list[Signal]]:
        """(score, signals). ``task_type``: the task classifier's probabilities (or one
        type); ``shift`` is added to the logit before the sigmoid (the verdict memory)."""
        prep = prep or features.prepare(text)
        if task_type is None:
            from app.core.routing import tasktype

            task_type = tasktype.guess(prep).probs
        logit, parts = self.logit_parts(text, task_type, prep, active)
        # The contributions explain the model's own score; the shift is reported apart.
        p = _sigmoid(logit)
        signals = _explain(p, logit, self.base_logit, parts, self.base_p)
        for i, s in enumerate(signals):
            if s.label in labels.DETAILED:
                signals[i] = Signal(labels.with_detail(s.label, prep), s.weight)
        return apply_guards(prep, _sigmoid(logit + shift) if shift else p, signals)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


_FIRST = itemgetter(0)


def _explain(p: float, logit: float, base_logit: float,
             parts: list[tuple[float, str, bool]], base_p: float | None = None) -> list[Signal]:
    """Largest contributions, shown in probability points: each logit contribution times the
    average slope of the sigmoid between the model's baseline and this prompt's score."""
    if not parts:
        return []
    if base_p is None:
        base_p = _sigmoid(base_logit)
    slope = (p - base_p) / (logit - base_logit) if abs(logit - base_logit) > 1e-9 else p * (1 - p)
    # Labels never collide (n-grams are distinct words; dense labels are sentences), so the
    # largest parts can be picked without merging.
    # Same pick as nlargest(key=abs of the contribution), ties to the earlier part: a sort is
    # stable, also in reverse, and its float keys come from C-level maps.
    size = list(map(abs, map(_FIRST, parts)))
    top = sorted(range(len(parts)), key=size.__getitem__, reverse=True)[:MAX_SIGNALS]
    out = []
    for i in top:
        c, key, is_gram = parts[i]
        if abs(c * slope) >= 0.005:
            out.append(Signal(labels.ngram_label(key) if is_gram else key, c * slope))
    return out


def apply_guards(prep: features.Prepared, p: float,
                 signals: list[Signal]) -> tuple[float, list[Signal]]:
    """The greeting ceiling (see the module docstring)."""
    n = len(prep.text)
    if n <= GREETING_MAX_CHARS and p > GREETING_CEILING and followup.is_greeting(prep):
        drop = GREETING_CEILING - p
        return GREETING_CEILING, [Signal("just a greeting or thanks", drop)]
    return p, signals


def load(path: Path | None = None) -> Model:
    """Read a model file (gzipped or plain JSON)."""
    path = path or MODEL_DIR / MODEL_FILE
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return Model(json.loads(raw))


SHIPPED: Shipped[Model] = Shipped(load, lambda m: lookup.INDEX.attach(router=m))


def model() -> Model | None:
    """The shipped model, loaded once per process; None if missing or unreadable."""
    return SHIPPED.get()


def scorer() -> Scorer | None:
    """``text -> (score, signals)`` (optionally ``task_type=``), or None without weights."""
    m = model()
    return m.score if m is not None else None
