"""Rule-based task type detection: first strong match wins.

Keywords are looked up in the prompt's set of words and word pairs (shared with the learned
model's features, built once per prompt) rather than searched with case-insensitive regexes,
which cost hundreds of microseconds on a long prompt. A few structural forms (code fences,
answer options, formulas) keep small regexes over the first few thousand characters.
"""

from __future__ import annotations

import re

from app.core.routing.features import Prepared, prepare


def _terms(s: str) -> frozenset[str]:
    return frozenset(s.split("|"))


_GREETING_WORDS = _terms("hi|hello|hey|yo|hiya|thanks|thank|thx|morning|afternoon|evening|good|"
                         "how|are|you|what|s|up|there|again|all|whats|sup")
_GREETING_START = _terms("hi|hello|hey|yo|hiya|thanks|thank|thx|good|how|what|whats|sup")
_LANGUAGES = _terms("french|german|spanish|italian|chinese|japanese|korean|portuguese|russian|"
                    "arabic|hindi|dutch|english")

# Order matters: the first rule that matches decides. Specific forms come before broad ones.
# (task type, words and word pairs, structural regex or None)
_RULES: tuple[tuple[str, frozenset[str], re.Pattern[str] | None], ...] = (
    ("translation", _terms("translate|translation|translating|translated"), None),
    ("summarization", _terms("summarize|summarise|summary|tl dr|tldr|condense|key points"), None),
    ("knowledge_mcq", frozenset(),
     re.compile(r"^\s*A[.)]\s.+\n\s*B[.)]\s.+\n\s*C[.)]\s", re.MULTILINE)),
    ("code", _terms("python|javascript|typescript|java|rust|golang|cpp|sql|regex|bash|html|css|api|"
                    "bug|compile|stack trace|implement|refactor|unit test|function"),
     re.compile(r"```|\bdef \w+\(|\bclass \w+[:(]|[{};]\s*$", re.MULTILINE)),
    ("math", _terms("prove|proof|theorem|lemma|integral|derivative|equation|solve for|how many|"
                    "probability|matrix|eigenvalue|eigenvalues|polynomial|modulo|prime|primes|calculate|"
                    "compute"),
     re.compile(r"\d\s*[-+*/^=]\s*\d|\$[^$\n]+\$|\\(frac|sum|int)")),
    ("extraction", _terms("extract|pull out|list all|list every|find all|parse"), None),
    ("classification", _terms("classify|categorize|categorise|label|sentiment|is this"), None),
    ("rewrite", _terms("rewrite|rephrase|paraphrase|proofread|fix the|grammar|polish|edit this|"
                       "edit my|make it|make this"), None),
    ("creative", _terms("poem|story|song|haiku|limerick|joke|essay|script|tweet|slogan|letter|"
                        "speech|brainstorm"), None),
    ("analysis", _terms("compare|contrast|analyze|analyse|evaluate|assess|pros and|tradeoffs|"
                        "trade offs|advantages|critique|implications"), None),
    ("reasoning", _terms("why|explain|reason|logic|puzzle|riddle|deduce|infer|would happen"), None),
)
_FACTUAL_START = _terms("who|what|when|where|which|how|is|are|does|did")
_HOW_FACTUAL = _terms("big|old|far|long|much|many")


def _translation(p: Prepared) -> bool:
    if not p.grams.isdisjoint(_RULES[0][1]):
        return True
    # "... into French", "... in Spanish"
    toks = p.tokens
    return any(toks[i] in ("into", "in") and toks[i + 1] in _LANGUAGES
               for i in range(len(toks) - 1)) if not p.words.isdisjoint(_LANGUAGES) else False


def detect(prompt: str, prep: Prepared | None = None) -> str:
    p = prep or prepare(prompt)
    toks = p.tokens
    if toks and len(toks) <= 6 and toks[0] in _GREETING_START and set(toks) <= _GREETING_WORDS:
        return "greeting"
    if _translation(p):
        return "translation"
    head = p.question[:4000]
    for name, terms, pattern in _RULES[1:]:
        if terms and not p.grams.isdisjoint(terms):
            return name
        if pattern is not None and pattern.search(head):
            return name
    if toks and (toks[0] in _FACTUAL_START and (toks[0] != "how" or (len(toks) > 1 and toks[1] in _HOW_FACTUAL))):
        return "factual_qa"
    return "chat"
