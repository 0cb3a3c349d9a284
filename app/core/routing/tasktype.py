"""Task type of a prompt: a small linear classifier over words, pairs, cue and marker tokens.

Trained by training/train_tasks.py on hand-written examples of every type plus weak labels
from the benchmark data (see there), shipped as model/tasks.json.gz. Inference is one
dictionary lookup per token (in the merged gram index, lookup.py, for the shipped model), an
exact integer sum of the tokens' packed rows and a softmax over the 15 types.

Users can teach it with their own example prompts per type (``[router.task_examples]``):
a prompt close enough to one of them (cosine of content words, see neighbours.py) gets that
type's logit raised in proportion to the similarity, with no retraining.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import struct
from array import array
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, mul, sub, truediv
from pathlib import Path

from app.core.routing import lookup
from app.core.routing.features import Prepared, prepare
from app.core.routing.shipped import Shipped
from app.core.routing.tasks import (
    HEAD_TOKENS,
    TAIL_TOKENS,
    TASK_IDS,
    TASK_INDEX,
    lead_grams,
    lead_words,
    marker_tokens,
    task_tokens,
)

MODEL_FILE = Path(__file__).resolve().parent / "model" / "tasks.json.gz"
# A user example this similar (cosine of content words) or more counts as evidence ...
EXAMPLE_MIN_SIM = 0.45
# ... adding up to this much to its type's logit (at similarity 1).
EXAMPLE_BOOST = 8.0


@dataclass(slots=True)  # a record, not frozen for speed (see routing.types)
class TaskGuess:
    task: str
    confidence: float  # the classifier's probability of that type
    probs: tuple[float, ...]  # one per TASK_IDS entry
    example: str = ""  # the user's example that decided it, if one did


class TaskModel:
    def __init__(self, payload: dict):
        if payload.get("format") != "routedeck-tasks":
            raise ValueError("not a RouteDeck task model")
        if tuple(payload.get("tasks") or ()) != TASK_IDS:
            raise ValueError("task model built for other task types: retrain with `routedeck train`")
        self.bias: list[float] = payload["bias"]
        k = len(self.bias)
        flat = array("f")
        flat.frombytes(base64.b64decode(payload["weights_f32"]))
        tokens = payload["tokens"].split("\n")
        if len(flat) != k * len(tokens):
            raise ValueError("task model weights do not match its tokens")
        # token -> where its row of weights (one per type) starts; rows are sliced from the
        # flat array only when needed, so loading stays fast.
        self._flat, self._k = flat, k
        self.index: dict[str, int] = dict(zip(tokens, range(0, len(flat), k), strict=True))
        self._rows: dict[str, array] | None = None
        self._exact = True  # every row packed so far was exact (see packed_row)
        self._fields = struct.Struct(f"<{k}Q")
        self._fields_bias = sum(_FIELD_BIAS << (_FIELD_BITS * j) for j in range(k))

    @property
    def rows(self) -> dict[str, array]:
        """token -> its row of weights, for the plain path (a model not in lookup.INDEX)."""
        if self._rows is None:
            flat, k = self._flat, self._k
            self._rows = {t: flat[i:i + k] for t, i in self.index.items()}
        return self._rows

    def logits(self, prep: Prepared) -> list[float]:
        indexed = lookup.INDEX.task is self and self._exact
        if indexed:
            lookup.records(prep)  # first: the grams' word families come with the records
        lead = lead_words(prep)
        if lead:
            # The instruction's words and pairs, and the markers: disjoint sets, as
            # task_tokens joins them.
            groups: tuple[Collection[str], ...] = (lead_grams(lead), set(marker_tokens(prep)))
        elif len(prep.tokens) > HEAD_TOKENS + TAIL_TOKENS:
            groups = (task_tokens(prep),)
        else:
            # A short prompt's tokens are its grams plus the markers: no set copy.
            groups = (prep.grams, marker_tokens(prep))
        n = sum(map(len, groups))
        val = 1.0 / math.sqrt(n) if n else 0.0
        if indexed:
            recs = lookup.INDEX.lookup(groups[-1])
            if lead:
                # The instruction's grams are among the prompt's, whose records are found
                # already: picked out, not looked up again.
                mine = lookup.records(prep)
                recs += compress(mine, map(groups[0].__contains__, map(lookup.gram_of, mine)))
            elif len(groups) > 1:
                recs += lookup.records(prep)
            vals = list(filter(None, map(lookup.task_row_of, recs)))
            if self._exact:  # else a row met while finding the records did not pack
                return self._logits_from(vals, val)
        rows = self.rows
        hits = [rows[t] for g in groups for t in filter(rows.__contains__, g)]
        if not hits:
            return list(self.bias)
        sums = map(math.fsum, zip(*hits, strict=True))
        return list(map(add, self.bias, map(mul, repeat(val), sums)))

    def _logits_from(self, packed_rows: list[int], val: float) -> list[float]:
        """bias + val * (per type, the sum of the rows' weights), the sums as math.fsum
        gives them (the correctly rounded exact sum, whatever the set's order) but from one
        integer sum of the packed rows instead of a transposition and fifteen float sums."""
        # Every field is biased to be non-negative, so the fields read back as unsigned.
        raw = sum(packed_rows, self._fields_bias).to_bytes(self._fields.size, "little")
        sums = map(mul, map(sub, self._fields.unpack(raw), repeat(_FIELD_BIAS)),
                   repeat(_FIXED_UNIT))
        return list(map(add, self.bias, map(mul, repeat(val), sums)))

    def packed_row(self, token: str) -> int | None:
        """A token's row as one fixed-point integer (see _pack; 0 for a token the model does
        not know; None, and no more exact sums, if it does not pack exactly): for lookup.py."""
        i = self.index.get(token)
        if i is None:
            return 0
        packed = _pack(self._flat[i:i + self._k])
        if packed is None:
            self._exact = False
        return packed


# Fixed point for exact column sums: a row packs into one integer as 64-bit fields (one per
# type) of weight * 2**40. The shipped weights are float32 values of at least 0.1 in size, so
# each is an exact multiple of 2**-40, and a sum of integers is exact in any order: read back
# and scaled, it is the correctly rounded exact sum, which is what math.fsum returns.
_FIXED_BITS = 40
_FIXED_UNIT = 2.0 ** -_FIXED_BITS
_FIELD_BITS = 64
_FIELD_BIAS = 1 << (_FIELD_BITS - 1)
# A packed weight stays under 2**52 in size, so the few hundred tokens a prompt can have
# (task_tokens bounds them) never carry one field into the next.
_MAX_PACKED = 1 << 52


def _pack(row: Sequence[float]) -> int | None:
    """A row of weights as one integer of fixed-point fields, or None if a weight is not an
    exact multiple of 2**-40 (or too large) in that form."""
    packed = 0
    for j, w in enumerate(row):
        if not w:
            continue  # most of a row's weights are 0 (a nan is true, and refused below)
        fixed = w * (1 << _FIXED_BITS)
        if not abs(fixed) < _MAX_PACKED or fixed != int(fixed):  # (also refuses inf and nan)
            return None
        packed += int(fixed) << (_FIELD_BITS * j)
    return packed


def _softmax(z: list[float]) -> list[float]:
    m = max(z)
    e = list(map(math.exp, map(sub, z, repeat(m))))
    s = sum(e)
    return list(map(truediv, e, repeat(s)))


def load(path: Path = MODEL_FILE) -> TaskModel:
    return TaskModel(json.loads(gzip.decompress(path.read_bytes())))


SHIPPED: Shipped[TaskModel] = Shipped(load, lambda m: lookup.INDEX.attach(task=m))


def model() -> TaskModel | None:
    """The shipped task classifier, loaded once per process; None if missing or unreadable."""
    return SHIPPED.get()


class Examples:
    """The user's example prompts per type, indexed once per distinct config."""

    def __init__(self, by_task: Mapping[str, Sequence[str]]):
        # Imported here: a process whose config has no examples never loads the index.
        from app.core.routing import neighbours

        self.words_of = neighbours.words_of
        self.items: list[tuple[str, str]] = [
            (task, text) for task in sorted(by_task) for text in by_task[task] if text.strip()]
        self.index = neighbours.Index(neighbours.words_of(prepare(t).tokens)
                                      for _, t in self.items)

    def nearest(self, words: frozenset[str]) -> tuple[str, str, float] | None:
        hit = self.index.query(words, k=1, min_sim=EXAMPLE_MIN_SIM)
        if not hit:
            return None
        i, sim = hit[0]
        task, text = self.items[i]
        return task, text, sim


_examples_cache: dict[tuple, Examples] = {}


def examples_for(by_task: Mapping[str, Sequence[str]] | None) -> Examples | None:
    """One index per distinct set of examples (config objects are rebuilt, examples rarely
    change), so indexing is paid once, not per prompt."""
    if not by_task:
        return None
    key = tuple(sorted((t, tuple(v)) for t, v in by_task.items()))
    ex = _examples_cache.get(key)
    if ex is None:
        if len(_examples_cache) > 8:
            _examples_cache.clear()
        ex = _examples_cache[key] = Examples(by_task)
    return ex


def _fallback(prep: Prepared) -> list[float]:
    """Without the model file: one vote per cue family present (a crude but honest guess)."""
    from app.core.routing.tasks import CUES

    cue_task = {"greet": "greeting", "lookup": "factual", "extract": "extraction",
                "classify": "classification", "summarize": "summarize", "translate": "translate",
                "rewrite": "rewrite", "code": "code_write", "debug": "code_debug",
                "calc": "calculation", "proof": "proof", "logic": "logic",
                "analysis": "analysis", "expert": "expert", "creative": "creative"}
    z = [0.0] * len(TASK_IDS)
    z[TASK_INDEX["factual"]] = 0.5
    for name, terms in CUES:
        if not prep.grams.isdisjoint(terms):
            z[TASK_INDEX[cue_task[name]]] += 1.0
    return z


def guess(prep: Prepared, examples: Examples | None = None) -> TaskGuess:
    m = model()
    z = m.logits(prep) if m is not None else _fallback(prep)
    near = None
    if examples is not None:
        near = examples.nearest(examples.words_of(prep.tokens))
        if near is not None and near[0] in TASK_INDEX:
            z[TASK_INDEX[near[0]]] += EXAMPLE_BOOST * near[2]
    probs = _softmax(z)
    k = probs.index(max(probs))  # the first most likely type, as max(range, key=) picks
    used = near[1] if near is not None and near[0] == TASK_IDS[k] else ""
    return TaskGuess(TASK_IDS[k], probs[k], tuple(probs), used)


def detect(prompt: str, prep: Prepared | None = None) -> str:
    return guess(prep or prepare(prompt)).task
