"""Provider-reported usage, checked before it is believed: the one place usage is parsed.

A count is taken only when it is a whole number, not negative, and plausible for what was
sent and received: a tokenizer never makes more tokens than the UTF-8 bytes it reads (four
at most per character), so a prompt of N characters cannot be billed as much more than 4 N
tokens, nor an answer as more than 4 x its characters plus what max_output_tokens allows
for hidden reasoning. Providers add framing, hidden prompts and server-side context (a
gateway's retrieval, say), so no count up to :data:`FLOOR_TOKENS` is ever doubted: the bound
is there to catch the impossible, not to audit a bill. A count past its bound (10^15 tokens
for "hi", a number beyond SQLite's integer range) is not believed: that count is estimated with tiktoken instead, the row says
so (``usage_source = "estimated"``) and a note tells the user what the server claimed. So an
implausible usage can never become a $750,000,000 call, and never costs the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLOOR_TOKENS = 2_000_000  # more than any one call of today's models, whatever was sent
BYTES_PER_CHAR = 4  # UTF-8: at most 4 bytes a character, at most one token a byte
PER_MESSAGE = 64


def count(value: Any) -> int | None:
    """A token count as the server sent it, or None when it is not a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


@dataclass
class Reported:
    """The counts of a usage object that were believed (None: estimate this one)."""

    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None


def _sub(raw: dict[str, Any], outer: str, inner: str) -> int:
    details = raw.get(outer)
    return (count(details.get(inner)) or 0) if isinstance(details, dict) else 0


def checked(raw: Any, messages: list[dict[str, str]], answer_chars: int,
            max_output_tokens: int | None) -> Reported | None:
    """The believable part of a usage object (None when it has no count at all), for a
    request of ``messages`` whose answer so far has ``answer_chars`` characters."""
    if not isinstance(raw, dict):
        return None
    inp, out = count(raw.get("prompt_tokens")), count(raw.get("completion_tokens"))
    if inp is None and out is None:
        return None
    rep = Reported(inp, out, _sub(raw, "prompt_tokens_details", "cached_tokens"),
                   _sub(raw, "completion_tokens_details", "reasoning_tokens"))
    sent = sum(len(m.get("content") or "") for m in messages)
    in_cap = max(FLOOR_TOKENS, BYTES_PER_CHAR * sent + PER_MESSAGE * len(messages))
    out_cap = max(FLOOR_TOKENS, BYTES_PER_CHAR * (answer_chars + (max_output_tokens or 0)))
    if inp is not None and inp > in_cap:
        rep.notes.append(_note(inp, "prompt", f"a request of {sent:,} characters"))
        rep.input_tokens = None
    if out is not None and out > out_cap:
        rep.notes.append(_note(out, "completion", f"an answer of {answer_chars:,} characters"))
        rep.output_tokens = None
    if rep.cached_input_tokens > (rep.input_tokens if rep.input_tokens is not None else in_cap):
        rep.notes.append(_note(rep.cached_input_tokens, "cached prompt", "its prompt"))
        rep.cached_input_tokens = 0
    if rep.reasoning_tokens > (rep.output_tokens if rep.output_tokens is not None else out_cap):
        rep.notes.append(_note(rep.reasoning_tokens, "reasoning", "its completion"))
        rep.reasoning_tokens = 0
    return rep


def _note(n: int, what: str, against: str) -> str:
    shown = f"{n:,}" if n < 10**18 else f"about 10^{len(str(n)) - 1}"
    return (f"the server reported {shown} {what} tokens for {against}, which cannot be right; "
            "that count was estimated instead")
