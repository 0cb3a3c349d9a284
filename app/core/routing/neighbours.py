"""A small nearest-neighbour index over prompts' word sets, for the user's own examples.

Used by the verdict memory (memory.py) and by the task examples users add in config. Items
are indexed by their content words (stopwords dropped) in an inverted index; a query scores
only the items that share a word with it, and skips words so common among the items that
they say nothing, so a few thousand items cost a few microseconds per query. Similarity is
the cosine of the two word sets, |A & B| / sqrt(|A| |B|).
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import chain, compress, filterfalse
from operator import eq

_WORD = re.compile(r"[^\W_]+")

STOPWORDS = frozenset(
    "a an the and or but if then so of to in on at by for with from as is are was were be "
    "been being am do does did done have has had i me my we our you your he she it its they "
    "them their this that these those there here what which who whom whose how why when "
    "where can could would should will shall may might must not no yes please just also "
    "very too than into about over under up down out some any all each more most other such "
    "only own same s t ll re ve d m let lets get got make like want need".split())
# A word shared by more than this share of the items (and more than a few of them) is
# skipped at query time: it would touch most of the index and separate nothing.
COMMON_SHARE = 0.02
MAX_QUERY_WORDS = 10


def content_words(text: str, limit: int = 4000) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text[:limit].lower()) if w not in STOPWORDS)


def words_of(tokens: Sequence[str], limit: int = 400) -> frozenset[str]:
    """Content words of already tokenised text (features.Prepared.tokens): no second scan."""
    # Filtered in C, in token order (the same set, built in the same order, as a loop would).
    return frozenset(filterfalse(str.isdigit, filterfalse(STOPWORDS.__contains__,
                                                          tokens[:limit])))


class Index:
    """Items (word sets) with an inverted index; query by cosine similarity."""

    __slots__ = ("_postings", "_sizes", "n")

    def __init__(self, items: Iterable[frozenset[str]] = ()):
        # Item numbers as machine integers: counting them reads one compact array per word
        # rather than a pointer per item to an int object placed wherever it was made.
        self._postings: dict[str, array] = {}
        self._sizes: list[int] = []
        self.n = 0
        for words in items:
            self.add(words)

    def add(self, words: frozenset[str]) -> int:
        i = self.n
        self._sizes.append(len(words))
        for w in words:
            self._postings.setdefault(w, array("I")).append(i)
        self.n += 1
        return i

    def query(self, words: frozenset[str] | Sequence[str], k: int = 5,
              min_sim: float = 0.0, skip: int = -1) -> list[tuple[int, float]]:
        """Up to k (item, similarity) pairs, most similar first, similarity >= min_sim;
        ``skip`` leaves one item out (leave-one-out evaluation)."""
        if not words or not self.n:
            return []
        postings = self._postings
        cap = max(8, int(COMMON_SHARE * self.n))
        # Rarest words first, and only a few of them: they carry the similarity, and a
        # common word's long posting list would cost more than the whole routing budget.
        # Ties go by the word, so which lists are read never depends on the set's iteration
        # order (which changes with each process's string hashing).
        found = [w for w in words if (p := postings.get(w)) is not None and len(p) <= cap]
        if len(found) > MAX_QUERY_WORDS:  # (two queries in five; the rest read every list)
            found = [w for _, w in sorted([(len(postings[w]), w) for w in found])
                     [:MAX_QUERY_WORDS]]
        q = len(words)
        sizes = self._sizes
        # An item sharing c words has at least c words itself, so its similarity is at most
        # c / sqrt(q * c) = sqrt(c / q): below min_sim unless c >= min_sim**2 * q. Most items
        # share a single rare word, so this drops them before any square root (the margin
        # keeps every item whose computed similarity could still reach min_sim).
        need = max(1, math.ceil(min_sim * min_sim * q * (1 - 1e-9)))
        shared = sorted(chain.from_iterable(map(postings.__getitem__, found)))
        if need == 1:
            candidates = Counter(shared).items()
        else:
            # In the sorted item numbers an item listed at least `need` times is one whose
            # number equals the one need - 1 places on: found in C, without counting every
            # item (most share one word, and counting them costs more than the sort).
            many = dict.fromkeys(compress(shared, map(eq, shared, shared[need - 1:])))
            candidates = [(i, shared.count(i)) for i in many]
        scored = [(c / math.sqrt(q * sizes[i]), i) for i, c in candidates
                  if sizes[i] and i != skip]
        scored = [(s, i) for s, i in scored if s >= min_sim]
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [(i, s) for s, i in scored[:k]]
