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

# A prompt's grams are its words and word pairs, so a longer phrase ("step by step") is
# found as all of its pairs. Its first pair carries this bit, so only a prompt that has
# one of those first pairs pays for checking the rest (Vocabulary.complete).
PHRASE = 1


class Vocabulary:
    """Word or pair -> bit mask of the families it belongs to; longer phrases by pairs."""

    __slots__ = ("_mask_of", "_phrases", "size")

    def __init__(self) -> None:
        self._mask_of: dict[str, int] = {}
        # first pair -> (the phrase's other pairs, family bit)
        self._phrases: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self.size = 1  # families registered so far (a Prepared's mask records it); PHRASE

    def family(self, terms: Iterable[str]) -> int:
        """Register a word list (words, pairs or longer phrases); its bit."""
        bit = 1 << self.size
        self.size += 1
        mask_of = self._mask_of
        for t in terms:
            words = t.split()
            if len(words) > 2:
                pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
                self._phrases.setdefault(pairs[0], []).append((tuple(pairs[1:]), bit))
                mask_of[pairs[0]] = mask_of.get(pairs[0], 0) | PHRASE
            else:
                mask_of[t] = mask_of.get(t, 0) | bit
        return bit

    def complete(self, mask: int, grams: frozenset[str] | set[str]) -> int:
        """``mask`` (the OR of the grams' masks) with the bits of the longer phrases whose
        every pair is among ``grams``."""
        if not mask & PHRASE:
            return mask
        for first, phrases in self._phrases.items():
            if first in grams:
                for rest, bit in phrases:
                    if all(map(grams.__contains__, rest)):
                        mask |= bit
        return mask

    def terms(self) -> Iterable[str]:
        """Every word or pair with a mask (a longer phrase: its first pair)."""
        return self._mask_of.keys()

    def mask_of(self, gram: str) -> int:
        """Bits of the families this one word or pair belongs to."""
        return self._mask_of.get(gram, 0)

    def mask(self, grams: frozenset[str] | set[str]) -> int:
        """Bits of every family that these grams meet."""
        return self.complete(reduce(or_, filter(None, map(self._mask_of.get, grams)), 0),
                             grams)


VOCAB = Vocabulary()


def bits_of(mask: int, bits: tuple[int, ...]) -> tuple[int, ...]:
    """Positions (in ``bits``) of the bits set in ``mask``, in order."""
    return tuple(i for i, b in enumerate(bits) if mask & b)
