"""Follow-ups: when an earlier turn counts for routing the current prompt.

Only when the prompt refers back to the conversation ("and in French?", "why?", "shorter",
"what about Go?", "fix it"): then it is as hard as the question it continues, and it is
scored together with that question. A greeting or a thanks never inherits, and a prompt
that stands on its own (a new question, a long request) is routed alone. The decision says
which earlier prompt it followed ("follow-up to: Prove that ...").
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.routing.features import Prepared, prepare

# A follow-up is short; a longer prompt counts as one only with an explicit back-reference.
SHORT_CHARS = 160
ANCHOR_CHARS = 2000
MAX_HOPS = 3

_GREETING = frozenset(
    "hi hello hey hiya yo thanks thank thx ty cheers great cool nice ok okay awesome perfect "
    "bye good morning night evening lol you so much a lot the best got it appreciate "
    "appreciated that helped there everyone all folks guys team friend friends mate".split())
# Words that start a follow-up when the prompt also points back ("can you make it ...") ...
_STARTS = frozenset(
    "and but also so then now what how why same again more shorter longer simpler briefer "
    "explain elaborate continue go another other instead redo retry try translate make do "
    "can could please example examples really ok okay is are isn wouldn doesn in expand "
    "summarize summarise rewrite fix improve add remove change use".split())
# ... and the ones that do on their own in a short prompt ("and for Windows", "shorter please").
_CONTINUES = frozenset(
    "and but also so then now same again more shorter longer simpler briefer elaborate "
    "continue another instead redo retry in expand example examples".split())
_OPENERS = frozenset(("what about", "how about", "what if", "and in", "in french", "in german",
                      "in spanish", "go on", "tell me more", "more detail", "more details",
                      "try again", "same for", "and why", "why not", "how so", "for example"))
_BACK_REFS = frozenset(
    "it that this those these them they above previous earlier last your same one".split())
_EXPLICIT = frozenset(("the above", "your answer", "your previous", "you wrote", "you said",
                       "the previous", "the code you", "your code", "your last", "that answer",
                       "the last one", "you just"))


# Words that go with a greeting ("hello again", "hey, it's me again", "I just wanted to say
# thanks") but are none by themselves: "again" alone asks to retry the last answer.
_WITH_GREETING = frozenset("again back here me i m im am it s its just wanted to say".split())


def is_greeting(prep: Prepared) -> bool:
    toks = set(prep.tokens)
    return (bool(toks) and len(prep.tokens) <= 8 and toks <= _GREETING | _WITH_GREETING
            and not toks.isdisjoint(_GREETING))


def refers_back(prep: Prepared) -> bool:
    toks = prep.tokens
    if not toks or is_greeting(prep):
        return False
    grams = prep.grams
    if not grams.isdisjoint(_EXPLICIT):
        return True
    if len(prep.text) > SHORT_CHARS:
        return False
    if len(toks) <= 2:
        return True  # "why?", "shorter", "in Rust?", "and then?"
    if toks[0] in _CONTINUES and len(toks) <= 8:
        return True
    if toks[0] in _STARTS and not grams.isdisjoint(_BACK_REFS) and not supplies_text(prep.text):
        return True
    return not grams.isdisjoint(_OPENERS)


def supplies_text(text: str) -> bool:
    """The prompt brings its own material after a colon or on the next line ("Summarize
    this: ...", "Fix this\n<code>"): its "this" points forward, not back."""
    for sep in (":", "\n"):
        i = text.find(sep)
        if i >= 0 and len(text[i + 1:].split()) >= 2:
            return True
    return False


def _user_turns(history: Sequence[dict[str, str]]) -> list[str]:
    return [m.get("content") or "" for m in history if m.get("role") == "user"]


def anchor(prompt: str, history: Sequence[dict[str, str]] | None,
           prep: Prepared | None = None) -> str:
    """The earlier user prompt this one continues, or '' when it stands alone. A chain of
    follow-ups ("shorter" then "and in French?") goes back to the question that began it."""
    if not history:
        return ""
    prep = prep or prepare(prompt)
    if not refers_back(prep):
        return ""
    turns = [t for t in _user_turns(history) if t.strip()]
    for hop in range(min(MAX_HOPS, len(turns))):
        candidate = turns[-1 - hop]
        cp = prepare(candidate[:ANCHOR_CHARS])
        if is_greeting(cp):
            return ""
        if not refers_back(cp) or hop == min(MAX_HOPS, len(turns)) - 1:
            return candidate
    return ""


def first_words(text: str, n: int = 5, limit: int = 36) -> str:
    words = text.split()
    out = " ".join(words[:n])
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    elif len(words) > n:
        out += " …"
    return out
