"""Cascade judgement: is the cheap tier's answer good enough to keep, or should the turn be
re-asked one tier up?

The cheap answer is asked for with ``logprobs=True``. It is rejected when it is empty, was
cut short (finish_reason "length"), reads as a refusal, or (when the server returned
logprobs) its mean token logprob is under ``[cascade] min_mean_logprob``. Servers without
logprobs are judged by the other checks only.
"""

from __future__ import annotations

import re

# Refusals are recognised at the start of an answer, where models put them.
_REFUSAL = re.compile(
    r"^\W*(?:"
    r"(?:i'?m|i am) (?:sorry|afraid)\b.{0,80}?\b(?:can(?:no|')t|can not|unable|not able|won'?t)"
    r"|i apologi[sz]e\b.{0,80}?\b(?:can(?:no|')t|can not|unable|not able)"
    r"|sorry,? (?:but )?i (?:can(?:no|')t|can not|am unable|won'?t)"
    r"|i (?:can(?:no|')t|can not|won'?t|am unable to|am not able to|must decline to) "
    r"(?:help|assist|comply|provide|answer|do that|fulfil|fulfill|support|share)"
    r"|as an ai(?: language model)?,? i (?:can(?:no|')t|can not|am unable|don'?t)"
    r")",
    re.IGNORECASE | re.DOTALL,
)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text.strip()[:300].replace("\u2019", "'")))


def judge(text: str, finish_reason: str | None, mean_logprob: float | None,
          min_mean_logprob: float) -> str | None:
    """Why the answer should be escalated, in words, or None to keep it."""
    if not text.strip():
        return "the cheap answer was empty"
    if finish_reason == "length":
        return "the cheap answer was cut at its token limit"
    if finish_reason is None:
        return "the cheap answer was truncated"
    if is_refusal(text):
        return "the cheap tier refused"
    if mean_logprob is not None and mean_logprob < min_mean_logprob:
        return (f"low confidence: mean token logprob {mean_logprob:.2f} < "
                f"{min_mean_logprob:.2f}")
    return None
