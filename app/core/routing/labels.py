"""What the signals of a decision are called: the words a person reads on the panel and in
`route`, never a stopword, a bare number or a word that says nothing as a reason.

The features (features.py) are computed on every decision; their names are worked out here
only for the few signals shown.
"""

from __future__ import annotations

from app.core.routing.features import DENSE, LEXICON_TERMS, STRUCTURE_LABELS, UNITS, Prepared


def ngram_label(gram: str) -> str:
    return f"mentions '{gram}'"


_WEAK_WORDS = frozenset(
    "a an the and or but if then so of to in on at by for with from as is are was were be been "
    "being am do does did have has had i me my we our you your he she it its they them their "
    "this that these those there here what which who whom how why when where can could would "
    "should will shall may might must not no yes please just also very too than into about "
    "over under up down out some any all each more most other such only own same s t ll re ve "
    "d m let get got make like want need following given one two use using answer question "
    "correct true false find give show tell know think look take come made said many much "
    "well best good new way thing things something someone people person time times help "
    "sure really right left first last next back even still just ever never always often "
    "here there where part type kind sort lot lots bit "
    # Everyday words with a weight of their own that still say nothing to a person as a
    # reason ("mentions 'years'", "mentions 'decided'"): counted, never named.
    "small large little huge tiny years year months month weeks week days hours today "
    "tomorrow yesterday different similar decided decide decision going uses used wants "
    "wanted works worked working looks looking maybe please thanks".split())


def meaningful_gram(gram: str) -> bool:
    """A word or pair worth naming to a person: every word a real content word (no
    stopwords, no bare numbers, nothing shorter than 4 letters) and the label short."""
    words = gram.split(" ")
    return len(gram) <= 18 and all(len(w) >= 4 and w.isalpha() and w not in _WEAK_WORDS
                                   for w in words)


def dense_label(index: int, value: float) -> str:
    return DENSE[index][1]


# Labels a signal names with what the prompt said: a word family by its word ("code words
# 'python'", not "asks for code" for a cover letter that mentions Python), the count of
# question marks, the unit found. Only the few signals shown are labelled so (from the
# prompt's grams: no scan of their own), so the hot path never pays for it.
_LEXICON_TERMS = LEXICON_TERMS
_QUESTION_MARKS = DENSE[next(i for i, (n, _) in enumerate(DENSE) if n == "req_questions")][1]
_UNITS_LABEL = STRUCTURE_LABELS["units"]
DETAILED = frozenset([*_LEXICON_TERMS, _QUESTION_MARKS, _UNITS_LABEL])  # with_detail names


def base_label(label: str) -> str:
    """The feature's own label without the prompt's detail ("code words 'python'" ->
    "code words")."""
    return label.split(" '", 1)[0]


def with_detail(label: str, prep: Prepared) -> str:
    """``label`` with what in this prompt made the feature fire, when that can be named."""
    terms = _LEXICON_TERMS.get(label)
    if terms is not None:
        found = terms.intersection(prep.grams)
        term = ("" if not found else next(iter(found)) if len(found) == 1
                else min(found, key=lambda t: (len(t), t)))
        # "asks to compare 'compare'" would say it twice.
        return f"{label} '{term}'" if term and term not in label else label
    if label == _QUESTION_MARKS:
        n = prep.question.count("?")
        return "asks a question" if n == 1 else f"{n} questions" if n else label
    if label == _UNITS_LABEL:
        unit = UNITS.search(prep.low)
        return f"numbers with units '{unit.group(1)}'" if unit else label
    return label
