"""The task types, in words, and the tokens the task classifier reads.

Shared by training (training/train_tasks.py) and inference (tasktype.py): the classifier's
inputs are the prompt's word unigrams and pairs plus a few marker tokens for structure that
words miss (a code block, answer options, a formula, the first word, the length).
"""

from __future__ import annotations

from app.core.routing.features import Marks, Prepared, word_tokens
from app.core.routing.types import TASKS
from app.core.routing.vocab import VOCAB, bits_of

TASK_IDS: tuple[str, ...] = tuple(t for t, _ in TASKS)
TASK_LABELS: dict[str, str] = dict(TASKS)
TASK_INDEX: dict[str, int] = {t: i for i, t in enumerate(TASK_IDS)}

def _terms(s: str) -> frozenset[str]:
    return frozenset(s.split("|"))


# Cue words per task type, as marker tokens the classifier weighs (they are evidence, not a
# rule: "fix" is a rewrite cue and a debugging cue, the model learns which wins with what).
# A handful of examples per type cannot teach every synonym; these lists carry that.
CUES: tuple[tuple[str, frozenset[str]], ...] = (
    ("greet", _terms("hi|hello|hey|hiya|yo|thanks|thank|thx|ty|cheers|morning|bye|sup|"
                     "appreciate|awesome|cool|great|nice|ok|okay|lol|good night")),
    ("lookup", _terms("what is|who is|who was|who wrote|who invented|when did|when was|"
                      "where is|how many|how tall|what does|stand for|define|definition|"
                      "capital of|default|meaning of|what year")),
    ("extract", _terms("extract|pull out|pull the|get the|list all|list the|find all|parse|"
                       "return the|which companies|names of|out of this")),
    ("classify", _terms("classify|categorize|categorise|label|tag|sentiment|spam|is this|"
                        "positive or|or negative|which of these|flag|detect|intent|toxic")),
    ("summarize", _terms("summarize|summarise|summary|tl dr|tldr|gist|key points|key point|"
                         "sum up|recap|condense|synopsis|takeaway|in a nutshell|abstract")),
    ("translate", _terms("translate|translation|in french|in spanish|in german|in italian|"
                         "to french|to spanish|to german|to italian|in japanese|to english|"
                         "into english|how do you say|word for|mean in")),
    ("rewrite", _terms("rewrite|rephrase|paraphrase|proofread|grammar|typos|typo|polish|"
                       "reformat|format|convert|shorter|more formal|formally|politely|tone|"
                       "snake case|camelcase|sort these|edit this|make this|make it")),
    ("code", _terms("python|javascript|typescript|java|rust|golang|go|c|sql|bash|regex|"
                    "function|script|implement|code|snippet|api|class|react|html|css|"
                    "dockerfile|query|cli|algorithm|one liner|command|git")),
    ("debug", _terms("bug|bugs|debug|error|exception|traceback|stack trace|crash|crashes|"
                     "fails|failing|failed|broken|why does|why is|doesn t|leak|deadlock|"
                     "race condition|slow|segfault|review this|code review|fix this|"
                     "what s wrong|not working|wrong with|rebalancing|hangs")),
    ("calc", _terms("calculate|compute|what s|how much|percent|tip|convert|average|sum|"
                    "total|price|cost|speed|interest|hours|minutes|km|miles|celsius|"
                    "fahrenheit")),
    ("proof", _terms("prove|proof|derive|derivation|show that|theorem|lemma|rigorous|"
                     "closed form|integral|eigenvalues|converges|diverges|irrational|"
                     "induction|equations|transform|limit")),
    ("logic", _terms("puzzle|riddle|clues|who owns|liar|lies|truth|knights|knaves|"
                     "prisoners|weighings|jug|sit|sits|houses|next in the sequence|"
                     "odd one out|valid|deduce")),
    ("analysis", _terms("compare|comparison|versus|vs|pros and|and cons|trade offs|"
                        "tradeoffs|recommend|should we|should i|plan|roadmap|design|"
                        "architecture|strategy|evaluate|assess|analyze|analyse|weigh|"
                        "migrate|migration|pick one|choose|root cause|what could explain")),
    ("expert", _terms("contract|clause|legal|lawyer|law|enforceable|liability|indemnify|"
                      "indemnity|nda|gdpr|hipaa|ccpa|compliance|compliant|lease|tenant|"
                      "landlord|rights|tax|taxes|taxed|deduct|irs|accounting|ifrs|gaap|"
                      "audit|balance sheet|dosage|symptoms|diagnosis|side effects|drug|"
                      "medication|mri|blood test|surgery|pregnant|invest|mortgage|"
                      "retirement|patent|regulation|laid off")),
    ("creative", _terms("poem|haiku|limerick|sonnet|story|stories|joke|lyrics|song|rap|"
                        "slogan|tagline|toast|speech|novel|fiction|fantasy|screenplay|"
                        "scene|dialogue|bedtime|names for|name ideas|ideas for|brainstorm|"
                        "creative|tweet|rhyme|blog post")),
)

# Each cue list is a word family (vocab.py): the prompt's families, found in the one pass
# over its grams shared with the lexicons and demand factors, say which cues it raises.
_CUE_BITS: tuple[int, ...] = tuple(VOCAB.family(terms) for _, terms in CUES)
_CUE_ALL = sum(_CUE_BITS)
_CUE_TOKENS = tuple(f"@{name}" for name, _ in CUES)
# cue bits of a prompt -> its cue tokens, sorted: each combination is worked out once.
_cue_tokens: dict[int, tuple[str, ...]] = {}


def cue_tokens(families: int) -> tuple[str, ...]:
    """The cue marker tokens ("@code", ...) of a prompt's word families, sorted."""
    key = families & _CUE_ALL
    toks = _cue_tokens.get(key)
    if toks is None:
        toks = _cue_tokens[key] = tuple(sorted(_CUE_TOKENS[i] for i in bits_of(key, _CUE_BITS)))
    return toks

# "#code": features.CODE_MARKS (tested once per prompt, shared with the dense features) or
# one of these; "#math": features.MATHS_MARKS or a dollar sign.
_CODE_MARKS = Marks("Traceback", "Error:", "error:", "Exception", " at line ", "    at ")


def marker_tokens(prep: Prepared) -> list[str]:
    """Structure the words alone do not show, as tokens that cannot collide with words."""
    q = prep.question
    out = [f"^{prep.tokens[0]}" if prep.tokens else "^"]
    if len(prep.tokens) > 1:
        out.append(f"^{prep.tokens[0]} {prep.tokens[1]}")
    n = len(prep.text)
    out.append("#tiny" if n < 40 else "#short" if n < 160 else "#medium" if n < 800 else "#long")
    if prep.code_marks or prep.has(_CODE_MARKS):
        out.append("#code")
    if "```" in q:
        out.append("#fence")
    if prep.maths_marks or "$" in q:
        out.append("#math")
    if q.count("\n") >= 3:
        out.append("#lines")
    if ("\nA" in q or "\n(A" in q) and ("\nB" in q or "\n(B" in q):
        out.append("#options")
    if q.rstrip().endswith("?"):
        out.append("#question")
    # prep.numbers (the digit tokens) is needed by the dense features anyway: without any,
    # the first sixty tokens need no scan.
    if prep.numbers and any(map(str.isdigit, prep.tokens[:60])):
        out.append("#number")
    out += cue_tokens(prep.families)
    return out


# The instruction in front of pasted material ("Analyze this error log and suggest a fix:"
# over a log) says what the prompt asks for; the log, email or table after it only says what
# it is about, and its words would outvote the instruction's. Such a prompt's type is read
# from the instruction's words and the markers (which still see the pasted part).
_LEAD_MAX_CHARS = 160
_LEAD_MIN_REST = 40


def lead_words(prep: Prepared) -> list[str]:
    """The words before the first colon or line break of a prompt that pastes at least
    _LEAD_MIN_REST characters after it, when there are two or more; [] for any other
    prompt."""
    q = prep.question
    cut = q.find("\n", 0, _LEAD_MAX_CHARS)
    colon = q.find(":", 0, _LEAD_MAX_CHARS)
    if colon >= 0 and (cut < 0 or colon < cut):
        cut = colon
    if cut <= 0 or len(q) - cut < _LEAD_MIN_REST:
        return []
    words = word_tokens(prep.low, cut)
    # One word before a colon is a field name ("Question:", "Text:"), not an instruction.
    return words if len(words) >= 2 else []


def lead_grams(lead: list[str]) -> set[str]:
    """The instruction's words and pairs: a subset of the prompt's grams (the instruction is
    the start of its question, cut where no word is)."""
    out = set(lead)
    out.update(map(" ".join, zip(lead, lead[1:], strict=False)))
    return out


HEAD_TOKENS = 64
TAIL_TOKENS = 32


def task_tokens(prep: Prepared) -> set[str]:
    """Words and pairs of the prompt's first and last few dozen words (of its instruction,
    when it pastes material after one), plus markers: what a prompt asks for is said at its
    start or end, and a pasted log or document in between would only add noise (and time)."""
    toks = prep.tokens
    lead = lead_words(prep)
    if lead:
        out = lead_grams(lead)
    elif len(toks) <= HEAD_TOKENS + TAIL_TOKENS:
        out = set(prep.grams)
    else:
        out = set()
        for part in (toks[:HEAD_TOKENS], toks[-TAIL_TOKENS:]):
            out.update(part)
            out.update(map(" ".join, zip(part, part[1:], strict=False)))
    out.update(marker_tokens(prep))
    return out
