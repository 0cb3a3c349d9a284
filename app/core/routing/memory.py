"""The user's verdicts as a memory of judged prompts: routing learns from them at once.

Each item is a prompt that was answered on a cheaper tier and re-run on a pricier one, with
the user's verdict: "cheap_enough", "premium_better" or "tie". A new prompt close to judged
ones (cosine of content words, see neighbours.py) has its score moved toward what the user
decided, in proportion to how close they are, with no retraining:

    logit += STRENGTH * max_similarity * mean(verdict value, weighted by similarity)

with premium_better = +1, cheap_enough = -1 and tie = -0.5 (a tie means the cheaper answer
was as good, so it leans cheap). The decision then says so ("you judged a similar prompt:
premium was better"). Build it from plain (prompt, verdict) pairs, e.g. the rows of
app.core.evaluation.labels.label_rows, and pass it to ``route(..., memory=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.routing import neighbours
from app.core.routing.features import Prepared, prepare

VERDICT_VALUE = {"premium_better": 1.0, "cheap_enough": -1.0, "tie": -0.5}
VERDICT_WORDS = {"premium_better": "premium was better", "cheap_enough": "cheap was enough",
                 "tie": "it was a tie"}
STRENGTH = 3.0
NEIGHBOURS = 5
DEFAULT_MIN_SIMILARITY = 0.5


@dataclass(frozen=True, slots=True)
class Recall:
    """What the memory says about one prompt."""

    shift: float  # added to the score's logit
    verdict: str  # verdict of the most similar judged prompt
    prompt: str  # that prompt
    similarity: float
    matches: int  # judged prompts at least min_similarity close

    @property
    def note(self) -> str:
        many = f" ({self.matches} similar)" if self.matches > 1 else ""
        return f"you judged a similar prompt: {VERDICT_WORDS[self.verdict]}{many}"


class Memory:
    """Judged prompts with an index over their content words."""

    def __init__(self, items: Iterable[tuple[str, str]] = (),
                 min_similarity: float = DEFAULT_MIN_SIMILARITY):
        self.min_similarity = min_similarity
        self.prompts: list[str] = []
        self.verdicts: list[str] = []
        self._index = neighbours.Index()
        for prompt, verdict in items:
            self.add(prompt, verdict)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping], min_similarity: float = DEFAULT_MIN_SIMILARITY
                  ) -> Memory:
        """From labelled rows with "prompt" and "verdict" keys (labels.label_rows)."""
        return cls(((r["prompt"], r["verdict"]) for r in rows
                    if r.get("prompt") and r.get("verdict") in VERDICT_VALUE), min_similarity)

    def add(self, prompt: str, verdict: str) -> int:
        if verdict not in VERDICT_VALUE:
            raise ValueError(f"unknown verdict {verdict!r}: one of {', '.join(VERDICT_VALUE)}")
        self.prompts.append(prompt)
        self.verdicts.append(verdict)
        return self._index.add(neighbours.words_of(prepare(prompt).tokens))

    def __len__(self) -> int:
        return len(self.prompts)

    def recall(self, prep: Prepared, skip: int = -1) -> Recall | None:
        """The memory's pull on this prompt, or None when nothing judged is close enough.
        ``skip`` leaves one item out, so a verdict never predicts itself in evaluation."""
        if not self.prompts:
            return None
        hits = self._index.query(neighbours.words_of(prep.tokens), k=NEIGHBOURS,
                                 min_sim=self.min_similarity, skip=skip)
        if not hits:
            return None
        total = math.fsum(sim for _, sim in hits)
        pull = math.fsum(sim * VERDICT_VALUE[self.verdicts[i]] for i, sim in hits) / total
        best, best_sim = hits[0]
        return Recall(STRENGTH * best_sim * pull, self.verdicts[best], self.prompts[best],
                      best_sim, len(hits))
