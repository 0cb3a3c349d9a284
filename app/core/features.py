"""Prompt features shared by training (training/train_router.py) and inference (learned.py).

Two kinds, both named so every contribution can be explained in words:

* dense features: length and structure, question forms, code/maths markers, domain lexicons,
  numbers and units, the rule-based task type. Each has a fixed index and a human label.
* word n-grams (unigrams and bigrams of the lower-cased text). The model keeps an explicit
  vocabulary rather than hash buckets, so a contribution maps straight back to the words of
  the prompt ("word 'integral'") and a dictionary lookup is as fast as hashing in Python.

Both sides must call exactly these functions: any change here changes the model's inputs,
so ``FEATURE_VERSION`` is stored with the weights and checked when they are loaded.
"""

from __future__ import annotations

import math
import re

FEATURE_VERSION = 4

# Only the head and tail of very long prompts feed the n-grams: it bounds latency, and the
# instruction that decides difficulty is nearly always at one of the two ends.
NGRAM_HEAD_CHARS = 2500
NGRAM_TAIL_CHARS = 500

_F = re.IGNORECASE
_M = re.IGNORECASE | re.MULTILINE

_TOKEN = re.compile(r"[a-z]+|\d+")

# (name, label, pattern): presence features; the label is what the user reads.
_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("hard", "asks for a proof or advanced maths/science", re.compile(
        r"\b(prove|proof|show that|theorem|lemma|rigorous(ly)?|olympiad|imo|putnam|"
        r"for all (integers|real|n)|if and only if|iff|irrational|infinitely many|"
        r"eigen\w*|hilbert|banach|manifold|homolog\w*|topolog\w*|galois|riemann|"
        r"lagrangian|hamiltonian|schr[oö]dinger|quantum field|renormaliz\w*|"
        r"thermodynamic\w*|spectroscop\w*|stereochem\w*|enzyme kinetics|"
        r"np-hard|complexity class|asymptotic|big-o)\b", _F)),
    ("compare", "asks to compare options", re.compile(
        r"\b(compare|contrast|trade-?offs?|pros and cons|versus|vs\.?|differences? between)\b", _F)),
    ("steps", "asks for step-by-step reasoning", re.compile(
        r"\b(step[- ]by[- ]step|explain (why|how)|justify|derive|walk me through|reasoning)\b", _F)),
    ("code", "contains or asks for code", re.compile(
        r"```|\bdef \w+\(|\bclass \w+[:(]|\breturn\b|[{}();]{2,}|\bimport \w+|"
        r"\b(python|javascript|function|algorithm|sql|regex)\b", _F)),
    ("math", "contains maths", re.compile(
        r"[=^∫∑√≤≥]|\\frac|\$[^$\n]+\$|\d+\s*[-+*/×÷]\s*\d+|"
        r"\b(solve|integral|derivative|equation|polynomial|probability|matrix)\b", _F)),
    ("units", "numbers with units", re.compile(
        r"\d+(\.\d+)?\s*(%|km|kg|m/s|usd|\$|mph|hours?|minutes?|cm|mg|ml|dollars?|"
        r"cents?|miles?|meters?|pounds?|years?|days?|weeks?)\b", _F)),
    ("word_problem", "a maths word problem", re.compile(
        r"\b(how (many|much)|what is the total|in total|altogether|each|per|remaining)\b"
        r"[^\n]{0,300}?\d|\d[^\n]{0,300}?\b(how (many|much)|in total|altogether)\b", _F)),
    ("mcq", "a multiple-choice question", re.compile(
        r"^\s*\(?[Aa][.)]\s?.+\n\s*\(?[Bb][.)]\s?.+", _M)),
    ("answer_cue", "ends with an answer cue", re.compile(r"(answer|solution)\s*:?\s*$", _F)),
    ("creative", "asks for creative writing", re.compile(
        r"\b(write|compose|draft) (me )?(a|an|the)? ?(poem|story|song|haiku|limerick|joke|"
        r"essay|script|tweet|slogan|letter|speech|blog)\b|\bbrainstorm\b", _F)),
    ("open_advice", "asks for advice or an opinion", re.compile(
        r"\b(should i|what do you think|recommend|advice|best way|suggest(ions)?|ideas?)\b", _F)),
    ("routine", "routine request (translate, define, summarise)", re.compile(
        r"\b(translate|summari[sz]e|rephrase|fix (the )?typo|capital of|define|synonym|spell)\b",
        _F)),
    ("greeting", "short greeting or thanks", re.compile(
        r"^\s*(hi|hello|hey|yo|thanks?|thank you|thx|good (morning|afternoon|evening))\b", _F)),
    ("constraints", "explicit constraints", re.compile(
        r"\b(must|must not|should not|exactly|at least|at most|only use|without using|"
        r"no more than|format)\b", _F)),
    ("fill_blank", "fill-in-the-blank sentence", re.compile(r"_{2,}|\bblank\b", _F)),
    ("wh_start", "a plain who/what/when/where question", re.compile(
        r"^\s*(who|what|when|where|which)\b[^\n]{0,80}\?\s*$", _F)),
    ("how_why", "asks how or why", re.compile(r"^\s*(how|why)\b", _F)),
    ("imperative", "an instruction (write, create, list ...)", re.compile(
        r"^\s*(write|create|generate|make|list|give|design|plan|describe|explain)\b", _F)),
    ("roleplay", "role-play or persona", re.compile(
        r"\b(pretend|act as|you are an?|role-?play|imagine you)\b", _F)),
)

TASK_TYPES = (
    "greeting", "translation", "summarization", "knowledge_mcq", "code", "math", "extraction",
    "classification", "rewrite", "creative", "analysis", "reasoning", "factual_qa", "chat",
)

_LENGTH_BINS = (
    ("len_tiny", "very short prompt", 0, 40),
    ("len_short", "short prompt", 40, 120),
    ("len_medium", "medium-length prompt", 120, 400),
    ("len_long", "long prompt", 400, 1500),
    ("len_xlong", "very long prompt", 1500, 4000),
    ("len_huge", "huge prompt (pasted document)", 4000, 10**12),
)

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_QMARK = "?"


def _dense_specs() -> list[tuple[str, str]]:
    specs = [(name, label) for name, label, _ in _PATTERNS]
    specs += [(name, label) for name, label, _, _ in _LENGTH_BINS]
    specs += [
        ("log_chars", "prompt length"),
        ("lines", "many lines"),
        ("questions", "several questions in one prompt"),
        ("numbers", "many numbers"),
        ("digits_share", "mostly digits and symbols"),
        ("upper_share", "many capitals"),
        ("fewshot", "worked examples before the question"),
        ("q_log_chars", "length of the question itself"),
        ("q_log_chars_mcq", "length of a multiple-choice question"),
    ]
    specs += [(f"task_{t}", f"looks like a {t.replace('_', ' ')} task") for t in TASK_TYPES]
    return specs


DENSE: tuple[tuple[str, str], ...] = tuple(_dense_specs())
DENSE_INDEX = {name: i for i, (name, _) in enumerate(DENSE)}
_TASK_OFFSET = DENSE_INDEX["task_greeting"]
_LOG_IDX = DENSE_INDEX["log_chars"]
_MCQ_IDX = DENSE_INDEX["mcq"]


def dense(text: str, task_type: str) -> list[tuple[int, float]]:
    """Active dense features of a prompt as (index, value); values are roughly 0..1."""
    out: list[tuple[int, float]] = []
    head = text if len(text) <= 6000 else text[:4000] + "\n" + text[-2000:]
    mcq = False
    for i, (_, _, pat) in enumerate(_PATTERNS):
        if pat.search(head):
            out.append((i, 1.0))
            mcq = mcq or i == _MCQ_IDX
    n = len(text)
    base = len(_PATTERNS)
    for j, (_, _, lo, hi) in enumerate(_LENGTH_BINS):
        if lo <= n < hi:
            out.append((base + j, 1.0))
            break
    out.append((_LOG_IDX, math.log1p(n) / 8.0))
    lines = head.count("\n")
    if lines:
        out.append((_LOG_IDX + 1, min(lines, 40) / 40.0))
    q = head.count(_QMARK)
    if q > 1:
        out.append((_LOG_IDX + 2, min(q - 1, 5) / 5.0))
    nums = len(_NUMBER.findall(head))
    if nums:
        out.append((_LOG_IDX + 3, min(nums, 30) / 30.0))
    if n:
        # A 2,000-char sample is plenty for a share and keeps huge pastes fast.
        sample = head[:2000]
        alpha = sum(map(str.isalpha, sample))
        share = 1.0 - alpha / len(sample)
        if share > 0.35:
            out.append((_LOG_IDX + 4, share))
        upper = sum(map(str.isupper, sample))
        if alpha and upper / alpha > 0.2:
            out.append((_LOG_IDX + 5, upper / alpha))
    q_text, fewshot = focus(text)
    q_len = math.log1p(len(q_text)) / 8.0
    if fewshot:
        out.append((_LOG_IDX + 6, 1.0))
    out.append((_LOG_IDX + 7, q_len))
    if mcq:
        out.append((_LOG_IDX + 8, q_len))
    try:
        out.append((_TASK_OFFSET + TASK_TYPES.index(task_type), 1.0))
    except ValueError:
        pass
    return out


_ANSWER_CUE = "Answer:"


def focus(text: str) -> tuple[str, bool]:
    """(the question that decides difficulty, is the prompt few-shot?).

    A few-shot prompt repeats worked examples, each closed by an answer cue, before the real
    question: the examples are the same for every prompt of that form, so only the final
    block says anything about how hard this one is."""
    if len(text) < 600 or text.count(_ANSWER_CUE, 0, 20_000) < 2:
        return text, False
    cut = text.rfind("\n\n")
    if cut <= 0 or len(text) - cut < 20:
        return text, False
    return text[cut + 2:], True


def ngram_text(text: str) -> str:
    text = focus(text)[0]
    if len(text) <= NGRAM_HEAD_CHARS + NGRAM_TAIL_CHARS:
        return text.lower()
    return (text[:NGRAM_HEAD_CHARS] + " \n " + text[-NGRAM_TAIL_CHARS:]).lower()


def ngrams(text: str) -> set[str]:
    """Distinct word unigrams and bigrams ("a b") of a prompt."""
    toks = _TOKEN.findall(ngram_text(text))
    grams = set(toks)
    grams.update([f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)])
    return grams


def ngram_value(count: int) -> float:
    """Each present n-gram gets 1/sqrt(number of distinct n-grams): long prompts do not win
    just by having more words."""
    return 1.0 / math.sqrt(count) if count else 0.0


def ngram_label(gram: str) -> str:
    return f"phrase '{gram}'" if " " in gram else f"word '{gram}'"


def dense_label(index: int, value: float) -> str:
    name, label = DENSE[index]
    if name == "log_chars":
        return "prompt length"
    return label
