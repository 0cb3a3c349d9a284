"""Word families: the word lists the classifier tests on a prompt, looked up in one pass.

The dense features' lexicons, the task classifier's cue words, the demand factors' term
lists and a few layout word sets all ask the same question of a prompt: does its set of
words and word pairs (features.Prepared.grams) meet this list? Asked list by list, that is
a dozen or more passes over the same grams for every prompt. Instead each list registers
here once, at import, as a *family* and gets one bit; a prompt's families are then the OR of
its grams' masks, found with one dictionary lookup per gram (Prepared.families), and every
test becomes a bit test.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_


class Vocabulary:
    """Word or pair -> bit mask of the families it belongs to."""

    __slots__ = ("_mask_of", "size")

    def __init__(self) -> None:
        self._mask_of: dict[str, int] = {}
        self.size = 0  # families registered so far (a Prepared's mask records it)

    def family(self, terms: Iterable[str]) -> int:
        """Register a word list; its bit."""
        bit = 1 << self.size
        self.size += 1
        mask_of = self._mask_of
        for t in terms:
            mask_of[t] = mask_of.get(t, 0) | bit
        return bit

    def terms(self) -> Iterable[str]:
        """Every word or pair of some family."""
        return self._mask_of.keys()

    def mask_of(self, gram: str) -> int:
        """Bits of the families this one word or pair belongs to."""
        return self._mask_of.get(gram, 0)

    def mask(self, grams: Iterable[str]) -> int:
        """Bits of every family that has at least one of these grams."""
        return reduce(or_, filter(None, map(self._mask_of.get, grams)), 0)


VOCAB = Vocabulary()


def bits_of(mask: int, bits: tuple[int, ...]) -> tuple[int, ...]:
    """Positions (in ``bits``) of the bits set in ``mask``, in order."""
    return tuple(i for i, b in enumerate(bits) if mask & b)
