"""One dictionary lookup per gram for every table a decision reads.

A prompt's words and pairs (features.Prepared.grams) are looked up in the word families
(vocab.py), the task classifier's rows and the router's word weights. Those tables hold
thousands of strings each, and a lookup in them mostly waits for memory: three passes over
the same grams cost about three times one. So the shipped models' tables are merged into one
index, gram -> Record, and a prompt's records are found once (``records``) and read by
every consumer.

Start-up only lists the index's keys; a gram's record is worked out the first time it is
met (the index then keeps it), so the first decision stays fast. The index serves the models
that attached themselves (tasktype.model() and learned.model() do); any other model (one
being trained, or loaded from another directory) reads its own tables, with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from itertools import chain
from operator import itemgetter, or_
from typing import Any

from app.core.routing.features import FORMS, Prepared
from app.core.routing.labels import meaningful_gram
from app.core.routing.vocab import VOCAB

# Record fields: (word families, task row packed as in tasktype._pack, the gram if the
# router may name it in an explanation else "", the router's weight in each layout, then
# the gram itself).
FAMILIES, TASK_ROW, NAMED = 0, 1, 2
WEIGHT = {form: 3 + i for i, form in enumerate(FORMS)}
GRAM = 3 + len(FORMS)
families_of = itemgetter(FAMILIES)
task_row_of = itemgetter(TASK_ROW)
named_of = itemgetter(NAMED)
gram_of = itemgetter(GRAM)

# The placeholder of a record not worked out yet: true, so it survives the filter that
# drops unknown grams, and never equal to a record.
_PENDING = ("pending",)


class GramIndex:
    """The merged table of the attached task model and router (either may be missing)."""

    def __init__(self) -> None:
        self.task: Any = None  # tasktype.TaskModel
        self.router: Any = None  # learned.Model
        self._table: dict[str, tuple] | None = None
        self._vocab_size = -1
        self.version = 0  # a Prepared's records are valid for this version only

    def attach(self, task: Any = None, router: Any = None) -> None:
        """Serve this task model and/or router from now on (the table is rebuilt lazily)."""
        if task is not None:
            self.task = task
        if router is not None:
            self.router = router
        self._table = None
        self.version += 1

    def _current(self) -> dict[str, tuple]:
        table = self._table
        if table is None or self._vocab_size != VOCAB.size:
            keys: list[Iterable[str]] = [VOCAB.terms()]
            if self.task is not None:
                keys.append(self.task.index)
            if self.router is not None:
                keys.append(self.router.ngram_w)
                keys += self.router.form_w.values()
            table = self._table = dict.fromkeys(chain.from_iterable(keys), _PENDING)
            if self._vocab_size != VOCAB.size and self._vocab_size >= 0:
                self.version += 1  # records found before carry stale families
            self._vocab_size = VOCAB.size
        return table

    def ready(self) -> None:
        """List the index's keys now (about 1 ms, once per process and model change): start-up
        work, which classify does before it starts timing a decision."""
        self._current()

    def lookup(self, grams: Iterable[str]) -> list[tuple]:
        """The records of the grams that are in some table (unknown grams drop out)."""
        table = self._current()
        found = list(filter(None, map(table.get, grams)))
        if _PENDING in found:
            for g in [g for g in grams if table.get(g) is _PENDING]:
                table[g] = self._record(g)
            found = list(filter(None, map(table.get, grams)))
        return found

    def warm(self) -> int:
        """Work out every record not met yet (about 30 ms for the shipped models), so no later
        decision pays for its new words: for a long-lived process (the console calls it from
        its warm-up thread). Returns how many were worked out."""
        table = self._current()
        pending = [g for g, rec in table.items() if rec is _PENDING]
        for g in pending:
            table[g] = self._record(g)
        return len(pending)

    def _record(self, gram: str) -> tuple:
        router = self.router
        named = ""
        weights: tuple[float, ...] = (0.0,) * len(FORMS)
        if router is not None:
            weights = tuple(router.layout_weight(gram, form) for form in FORMS)
            if gram in router.named and meaningful_gram(gram):
                named = gram
        row = self.task.packed_row(gram) if self.task is not None else 0
        return (VOCAB.mask_of(gram), row, named, *weights, gram)


INDEX = GramIndex()


def records(prep: Prepared) -> list[tuple]:
    """The records of a prompt's grams, found once per prompt (and index version); the
    prompt's word families come with them, so Prepared.families needs no pass of its own."""
    if prep.records_version != INDEX.version:
        recs = INDEX.lookup(prep.grams)
        mask = reduce(or_, filter(None, map(families_of, recs)), 0)
        prep.set_records(recs, INDEX.version, VOCAB.complete(mask, prep.grams), VOCAB.size)
    return prep.records

