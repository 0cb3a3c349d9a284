"""Rule-based task type detection: fast regexes over the prompt, first strong match wins."""

from __future__ import annotations

import re

_F = re.IGNORECASE | re.MULTILINE

# Order matters: the first pattern that matches decides. Specific forms come before broad ones.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("greeting", re.compile(
        r"^\s*(hi|hello|hey|yo|hiya|good (morning|afternoon|evening)|thanks?( you)?|thx|"
        r"how are you|what'?s up)\b[\s!.?,]*(there|again|all)?[\s!.?]*$", _F)),
    ("translation", re.compile(
        r"\btranslat(e|ion)\b|\bin(to)? (french|german|spanish|italian|chinese|japanese|"
        r"korean|portuguese|russian|arabic|hindi|dutch|english)\b", _F)),
    ("summarization", re.compile(r"\b(summari[sz]e|summary|tl;?dr|condense|key points)\b", _F)),
    ("knowledge_mcq", re.compile(r"^\s*A[.)]\s.+\n\s*B[.)]\s.+\n\s*C[.)]\s", _F)),
    ("code", re.compile(
        r"```|\bdef \w+\(|\bclass \w+[:(]|\bfunction\b|\b(python|javascript|typescript|java|"
        r"rust|golang|c\+\+|sql|regex|bash|html|css|api|bug|compile|stack trace|"
        r"implement|refactor|unit test)\b|[{};]\s*$", _F)),
    ("math", re.compile(
        r"\b(prove|proof|theorem|lemma|integral|derivative|equation|solve for|how many|"
        r"probability|matrix|eigen\w*|polynomial|modulo|prime|calculate|compute)\b|"
        r"\d\s*[-+*/^=]\s*\d|\$[^$]+\$|\\(frac|sum|int)", _F)),
    ("extraction", re.compile(
        r"\b(extract|pull out|list (all|every)|find all|parse)\b.*\b(from|in)\b", _F)),
    ("classification", re.compile(
        r"\b(classify|categori[sz]e|label|is this (positive|negative|spam)|sentiment)\b", _F)),
    ("rewrite", re.compile(
        r"\b(rewrite|rephrase|paraphrase|proofread|fix (the )?grammar|make (it|this) "
        r"(shorter|longer|more|less)|polish|edit (this|my))\b", _F)),
    ("creative", re.compile(
        r"\b(write|compose|draft) (me )?(a|an|the)? ?(poem|story|song|haiku|limerick|"
        r"joke|essay|script|tweet|slogan|letter|speech)\b|\bbrainstorm\b", _F)),
    ("analysis", re.compile(
        r"\b(compare|contrast|analy[sz]e|evaluate|assess|pros and cons|trade-?offs?|"
        r"advantages|critique|implications)\b", _F)),
    ("reasoning", re.compile(
        r"\b(why|explain|reason|logic|puzzle|riddle|deduce|infer|what would happen)\b", _F)),
    ("factual_qa", re.compile(
        r"^\s*(who|what|when|where|which|how (big|old|far|long|much|many)|is|are|does|did)\b",
        _F)),
)


def detect(prompt: str) -> str:
    head = prompt[:4000]
    for name, pattern in _RULES:
        if pattern.search(head):
            return name
    return "chat"
