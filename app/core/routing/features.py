"""Prompt features shared by training (training/train_router.py) and inference (learned.py).

Two kinds, both named so every contribution can be explained in words:

* dense features: length and structure, question forms, code/maths markers, domain lexicons,
  numbers and units, the task classifier's probabilities. Each has a fixed index and a
  label of at most 30 characters (the decision panel's width).
* word n-grams (unigrams and bigrams of the lower-cased text). The model keeps an explicit
  vocabulary rather than hash buckets, so a contribution maps straight back to the words of
  the prompt ("mentions 'integral'", only for content words: see labels.meaningful_gram) and a
  dictionary lookup is as fast as hashing in Python.

Both sides must call exactly these functions: any change here changes the model's inputs,
so ``FEATURE_VERSION`` is stored with the weights and checked when they are loaded.
"""

from __future__ import annotations

import math
import re
import string
from bisect import bisect_right
from collections.abc import Sequence
from operator import itemgetter

from app.core.routing.types import TASK_TYPES, TASKS
from app.core.routing.vocab import VOCAB, bits_of

FEATURE_VERSION = 12

# Only the head and tail of very long prompts feed the n-grams: it bounds latency, and the
# instruction that decides difficulty is nearly always at one of the two ends.
NGRAM_HEAD_CHARS = 1500
NGRAM_TAIL_CHARS = 500

_TOKEN = re.compile(r"[^\W\d_]+|\d+")
# The same tokens for ASCII text (lower-cased, so letters are a-z): plain character ranges
# match about twice as fast as the Unicode classes, and most prompts are ASCII.
_ASCII_TOKEN = re.compile(r"[a-z]+|[0-9]+")


def word_tokens(low: str, end: int | None = None) -> list[str]:
    """The word and digit-run tokens of lower-cased text (of its first ``end`` characters)."""
    pattern = _ASCII_TOKEN if low.isascii() else _TOKEN
    return pattern.findall(low) if end is None else pattern.findall(low, 0, end)


# Keyword features are looked up in the prompt's set of words and word pairs instead of being
# searched with case-insensitive regexes: the set is built once for the n-grams anyway, and a
# dozen regex scans of a long prompt would cost more than the whole latency budget.
# (name, label, words, word pairs)
_LEXICONS: tuple[tuple[str, str, frozenset[str]], ...] = tuple(
    (name, label, frozenset(terms.split("|")))
    for name, label, terms in (
        ("hard", "advanced maths",
         "prove|proof|proofs|show that|theorem|lemma|rigorous|rigorously|olympiad|imo|putnam|"
         "only if|iff|irrational|infinitely many|eigenvalue|eigenvalues|"
         "eigenvector|eigenvectors|hilbert|banach|manifold|manifolds|homology|homotopy|"
         "topology|topological|galois|riemann|lagrangian|hamiltonian|schrodinger|"
         "schrödinger|quantum field|renormalization|thermodynamics|thermodynamic|"
         "spectroscopy|stereochemistry|enzyme kinetics|np hard|complexity class|asymptotic|"
         "asymptotically|derive"),
        ("compare", "asks to compare",
         "compare|comparison|contrast|tradeoff|tradeoffs|trade offs|pros and|and cons|versus|"
         "vs|differences between|difference between"),
        ("steps", "asks for steps",
         "step by|by step|explain why|explain how|justify|walk me|reasoning|reason"),
        ("code_words", "code words",
         "python|javascript|typescript|function|algorithm|sql|regex|code|program|script|"
         "implement|java|rust|html|css|api|bug|compile|debug|class|def|return|import"),
        ("math_words", "maths words",
         "solve|integral|derivative|equation|equations|polynomial|probability|matrix|"
         "calculate|compute|sum|product|prime|modulo|remainder|fraction|percent|ratio"),
        ("word_problem", "quantity words",
         "how many|how much|in total|altogether|each|per|remaining|left|total"),
        ("creative", "creative words",
         "poem|story|song|haiku|limerick|joke|essay|lyrics|tweet|slogan|speech|blog|"
         "brainstorm|fictional|creative|novel|screenplay|rap"),
        ("open_advice", "asks for advice",
         "should i|what do|do you|recommend|advice|best way|suggest|suggestions|ideas|"
         "opinion|tips"),
        ("routine", "routine request",
         "translate|summarize|summarise|rephrase|typo|capital of|define|synonym|spell|"
         "definition"),
        ("constraints", "constraints",
         "must|must not|should not|exactly|at least|at most|only use|without using|"
         "no more|format|words|sentences"),
        ("roleplay", "role-play",
         "pretend|act as|you are|roleplay|role play|imagine you|persona"),
        ("analysis", "asks to evaluate",
         "analyze|analyse|analysis|evaluate|assess|critique|implications|impact|discuss"),
    )
)

# Each lexicon is a word family (vocab.py): the prompt's families, found in one pass over
# its grams shared with the task cues and the demand factors, say which lexicons it meets.
_LEXICON_BITS: tuple[int, ...] = tuple(VOCAB.family(terms) for _, _, terms in _LEXICONS)
_LEXICON_ALL = sum(_LEXICON_BITS)
# lexicon bits of a prompt -> its lexicon features, (index, 1.0) in index order: a few dozen
# combinations occur, so each is worked out once.
_lexicon_features: dict[int, tuple[tuple[int, float], ...]] = {}


def _lexicon_hits(families: int) -> tuple[tuple[int, float], ...]:
    key = families & _LEXICON_ALL
    hit = _lexicon_features.get(key)
    if hit is None:
        hit = _lexicon_features[key] = tuple((i, 1.0) for i in bits_of(key, _LEXICON_BITS))
    return hit

_FIRST_WORDS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("greeting", "short greeting or thanks",
     frozenset("hi hello hey yo thanks thank thx hiya greetings".split())),
    ("wh_start", "a plain wh- question",
     frozenset("who what when where which".split())),
    ("how_why", "asks how or why", frozenset("how why".split())),
    ("imperative", "an instruction",
     frozenset("write create generate make list give design plan describe explain".split())),
)

# first word -> the _FIRST_WORDS entries it starts: one lookup instead of a loop.
_FIRST_WORD_FEATURES: dict[str, tuple[int, ...]] = {}
for _j, (_, _, _starts) in enumerate(_FIRST_WORDS):
    for _w in _starts:
        _FIRST_WORD_FEATURES[_w] = (*_FIRST_WORD_FEATURES.get(_w, ()), _j)
_WH_START = next(j for j, (name, _, _) in enumerate(_FIRST_WORDS) if name == "wh_start")

_STRUCTURE = (
    ("code_syntax", "contains code"),
    ("math_syntax", "contains formulas"),
    ("units", "numbers with units"),
    ("mcq", "a multiple-choice question"),
    ("answer_cue", "ends with an answer cue"),
    ("fill_blank", "fill-in-the-blank sentence"),
)

# Most code and maths marks need a character prose seldom has. One scan for those tells
# whether a question has any (Prepared.symbols); if not, only the marks without one are
# tested ("def ", "Traceback"), which on three prompts in four skips most of the tests.
_SYMBOLS = "=^$`{}()<>/\\#∫∑√≤≥≡∞π"
_SYMBOL = re.compile("[" + re.escape(_SYMBOLS) + "]")


class Marks:
    """Substrings to look for in a question (Prepared.has), split by whether they need one of
    the _SYMBOLS."""

    __slots__ = ("plain", "symbolic")

    def __init__(self, *marks: str):
        self.symbolic = tuple(m for m in marks if not set(m).isdisjoint(_SYMBOLS))
        self.plain = tuple(m for m in marks if set(m).isdisjoint(_SYMBOLS))


# Plain substring tests: one regex alternation over a long prompt is far slower than these.
# The task classifier's markers (tasks.py) test mostly the same marks on the same text, so
# the shared ones are tested once per prompt (Prepared.code_marks / maths_marks) and each
# side adds its own few: "contains code" is CODE_MARKS or _CODE_MARKS, and so on.
CODE_MARKS = Marks("```", "=>", "();", "){", ") {", "def ", "#include", "};", "import ",
                   "return ")
MATHS_MARKS = Marks("=", "^", "∫", "∑", "√", "≤", "≥", "\\frac", "\\sum", "\\int")
_CODE_MARKS = Marks("!=", "+=", "==", "</", "/>")
_MATHS_MARKS = Marks("≡", "∞", "π")
_ARITH = re.compile(r"\d ?[-+*/×÷] ?\d")
_UNITS = re.compile(
    r"\d\s*(%|\$|km|kg|mph|cm|mg|ml|m/s|hours?|minutes?|dollars?|cents?|miles?|"
    r"meters?|pounds?|years?|days?|weeks?|usd)(?![a-z])")
_MCQ = re.compile(r"^\s*\(?[Aa][.)]\s?.+\n\s*\(?[Bb][.)]\s?.+", re.MULTILINE)


_LENGTH_BINS = (
    ("len_tiny", "very short prompt", 0, 40),
    ("len_short", "short prompt", 40, 120),
    ("len_medium", "medium-length prompt", 120, 400),
    ("len_long", "long prompt", 400, 1500),
    ("len_xlong", "very long prompt", 1500, 4000),
    ("len_huge", "huge prompt (pasted document)", 4000, 10**12),
)

# The bins cover every length from 0 up, in order: a length's bin is found by bisection.
_LENGTH_LOWS = tuple(lo for _, _, lo, _ in _LENGTH_BINS)
_ANSWER_CUE = "Answer:"
_DROP_UPPER = str.maketrans("", "", string.ascii_uppercase)
_UPPER_BYTES = string.ascii_uppercase.encode()


def _ascii_capitals(text: str) -> int:
    """How many A-Z the text has, by deleting them in C (bytes.translate is several times
    faster than str.translate, and most prompts are ASCII)."""
    if text.isascii():
        return len(text) - len(text.encode("ascii").translate(None, _UPPER_BYTES))
    return len(text) - len(text.translate(_DROP_UPPER))


def _dense_specs() -> list[tuple[str, str]]:
    specs = [(name, label) for name, label, _ in _LEXICONS]
    specs += [(name, label) for name, label, _ in _FIRST_WORDS]
    specs += list(_STRUCTURE)
    specs += [(name, label) for name, label, _, _ in _LENGTH_BINS]
    specs += [
        ("log_chars", "prompt length"),
        ("lines", "many lines"),
        ("questions", "several questions"),
        ("numbers", "many numbers"),
        ("digits_share", "mostly digits and symbols"),
        ("upper_share", "many capitals"),
        ("fewshot", "worked examples first"),
        ("q_log_chars", "length of the question itself"),
        ("q_log_chars_mcq", "length of the quiz question"),
    ]
    specs += [(f"task_{t}", f"task: {label}") for t, label in TASKS]
    specs += [(name, label) for _, name, label in _LAYOUT_SPECS]
    return specs


# Features that only mean something in one prompt layout (see form_of), so they are computed
# after it and only for it: how many quantities and steps a word problem chains, how many
# requirements a free-text request stacks up. Cross-validated, each set helped its own layout
# and hurt the others when applied to all; answer-option features for quizzes did not pay
# for their cost (see training_report.md).
_LAYOUT_SPECS = (
    ("numeric", "wp_values", "many quantities to combine"),
    ("numeric", "wp_sentences", "a multi-sentence problem"),
    ("numeric", "wp_ops", "many quantity words"),
    ("numeric", "wp_steps", "several steps in the problem"),
    ("numeric", "wp_percent", "percentages"),
    ("numeric", "wp_fraction", "fractions or a slash"),
    ("numeric", "wp_money", "money amounts"),
    ("numeric", "wp_decimal", "decimal numbers"),
    ("numeric", "wp_big", "large numbers"),
    ("numeric", "wp_magnitude", "size of the largest number"),
    ("free", "req_items", "a list of requirements"),
    ("free", "req_constraints", "several constraints"),
    ("free", "req_code_block", "a code block"),
    ("free", "req_questions", "question marks"),
    ("free", "req_length", "asks for length or detail"),
    ("free", "req_sentences", "a multi-sentence request"),
    ("free", "req_personal", "in the first person"),
)


DENSE: tuple[tuple[str, str], ...] = tuple(_dense_specs())
# For labels.py, which names the shown signals by what in the prompt made them fire.
LEXICON_TERMS: dict[str, frozenset[str]] = {label: terms for _, label, terms in _LEXICONS}
STRUCTURE_LABELS: dict[str, str] = dict(_STRUCTURE)
UNITS = _UNITS
# Labels that say what the prompt asks for (its lexicons, code in it), as opposed to its
# form (length, digits, layout counts): the ones worth showing next to a policy decision.
REQUEST_LABELS = frozenset([label for _, label, _ in _LEXICONS] + ["contains code"])
_LAYOUT_OFFSET = len(DENSE) - len(_LAYOUT_SPECS)
DENSE_INDEX = {name: i for i, (name, _) in enumerate(DENSE)}
_FIRST_OFFSET = DENSE_INDEX["greeting"]
_STRUCT_OFFSET = DENSE_INDEX["code_syntax"]
_LEN_OFFSET = DENSE_INDEX["len_tiny"]
_LOG_IDX = DENSE_INDEX["log_chars"]
_TASK_OFFSET = DENSE_INDEX["task_greeting"]


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


def capped(text: str) -> str:
    if len(text) <= NGRAM_HEAD_CHARS + NGRAM_TAIL_CHARS:
        return text
    return text[:NGRAM_HEAD_CHARS] + " \n " + text[-NGRAM_TAIL_CHARS:]


class Prepared:
    """The work shared by every feature and the task-type rules: done once per prompt."""

    __slots__ = ("_code", "_families", "_families_size", "_maths", "_numbers", "_symbols",
                 "fewshot", "grams", "low", "question", "records", "records_version", "text",
                 "tokens", "words")

    def __init__(self, text: str):
        self.text = text
        q, self.fewshot = focus(text)
        self.question = capped(q)
        self.low = self.question.lower()
        toks = word_tokens(self.low)
        self.tokens = toks
        grams = set(toks)
        grams.update(map(" ".join, zip(toks, toks[1:], strict=False)))
        self.grams = grams
        # Pairs contain a space, so a word lookup in the same set can never hit a pair.
        self.words = grams
        self._families_size = -1
        self._code = self._maths = self._symbols = self._numbers = None
        self.records: list[tuple] = []  # see lookup.records
        self.records_version = -1

    def set_records(self, records: list[tuple], version: int, families: int,
                    vocab_size: int) -> None:
        """Keep the grams' records from lookup.py, and the word families they carry."""
        self.records, self.records_version = records, version
        self._families, self._families_size = families, vocab_size

    @property
    def numbers(self) -> list[str]:
        """The question's digit runs, in order: exactly its digit tokens."""
        if self._numbers is None:
            self._numbers = list(filter(str.isdigit, self.tokens))
        return self._numbers

    @property
    def symbols(self) -> bool:
        """The question has one of the characters most marks need (scanned on first use)."""
        if self._symbols is None:
            self._symbols = _SYMBOL.search(self.question) is not None
        return self._symbols

    def has(self, marks: Marks) -> bool:
        """The question contains one of the marks."""
        q = self.question
        return (any(map(q.__contains__, marks.plain))
                or (self.symbols and any(map(q.__contains__, marks.symbolic))))

    @property
    def code_marks(self) -> bool:
        """The question has one of CODE_MARKS (tested on first use)."""
        if self._code is None:
            self._code = self.has(CODE_MARKS)
        return self._code

    @property
    def maths_marks(self) -> bool:
        """The question has one of MATHS_MARKS (tested on first use)."""
        if self._maths is None:
            self._maths = self.has(MATHS_MARKS)
        return self._maths

    @property
    def families(self) -> int:
        """Bit mask of the word families (vocab.py) this prompt's grams meet, found once.
        Recomputed if a module registered a family after it was found (an import order
        nothing in the app uses, but then no test could silently miss its words)."""
        if self._families_size != VOCAB.size:
            self._families = VOCAB.mask(self.grams)
            self._families_size = VOCAB.size
        return self._families


def prepare(text: str) -> Prepared:
    return Prepared(text)


def dense(text: str, task: str | Sequence[float], prep: Prepared | None = None
          ) -> list[tuple[int, float]]:
    """Active dense features of a prompt as (index, value); values are roughly 0..1."""
    prep = prep or Prepared(text)
    out: list[tuple[int, float]] = list(_lexicon_hits(prep.families))
    if prep.tokens:
        for j in _FIRST_WORD_FEATURES.get(prep.tokens[0], ()):
            if j != _WH_START or len(prep.question) < 120:
                out.append((_FIRST_OFFSET + j, 1.0))
    q = prep.question
    head = q  # already capped to NGRAM_HEAD_CHARS + NGRAM_TAIL_CHARS
    # The digit runs of the question are exactly its digit tokens: no second regex scan.
    numbers = prep.numbers
    # The substring tests are necessary conditions of the regexes and far cheaper.
    mcq = (("B." in head or "B)" in head or "b." in head or "b)" in head)
           and _MCQ.search(head) is not None)
    for j, hit in enumerate((
        prep.code_marks or prep.has(_CODE_MARKS),
        prep.maths_marks or prep.has(_MATHS_MARKS)
        or (bool(numbers) and _ARITH.search(head) is not None),
        bool(numbers) and _UNITS.search(prep.low) is not None,
        mcq,
        text.rstrip()[-12:].lower().rstrip(": ").endswith(("answer", "solution")),
        "__" in head or "blank" in prep.words,
    )):
        if hit:
            out.append((_STRUCT_OFFSET + j, 1.0))
    n = len(text)
    out.append((_LEN_OFFSET + bisect_right(_LENGTH_LOWS, n) - 1, 1.0))  # the bin lo <= n < hi
    out.append((_LOG_IDX, math.log1p(n) / 8.0))
    lines = head.count("\n")
    if lines:
        out.append((_LOG_IDX + 1, min(lines, 40) / 40.0))
    qm = head.count("?")
    if qm > 1:
        out.append((_LOG_IDX + 2, min(qm - 1, 5) / 5.0))
    if numbers:
        out.append((_LOG_IDX + 3, min(len(numbers), 30) / 30.0))
    if head:
        # Letters from the tokens already found (their digit runs are exactly `numbers`),
        # capitals by deleting them in C: no per-character Python loop.
        digits = sum(map(len, numbers))
        letters = sum(map(len, prep.tokens)) - digits
        share = 1.0 - letters / len(head)
        if share > 0.35:
            out.append((_LOG_IDX + 4, min(share, 1.0)))
        upper = _ascii_capitals(head)
        if letters > 0 and upper / letters > 0.2:
            out.append((_LOG_IDX + 5, min(upper / letters, 1.0)))
    q_len = math.log1p(len(q)) / 8.0
    if prep.fewshot:
        out.append((_LOG_IDX + 6, 1.0))
    out.append((_LOG_IDX + 7, q_len))
    if mcq:
        out.append((_LOG_IDX + 8, q_len))
    # The task classifier's probabilities (or a single type, as one-hot): soft values keep a
    # hesitant guess from acting like a certain one.
    if isinstance(task, str):
        if task in TASK_TYPES:
            out.append((_TASK_OFFSET + TASK_TYPES.index(task), 1.0))
    else:
        out += [(_TASK_OFFSET + k, p) for k, p in enumerate(task) if p >= 0.02]
    return out


def ngrams(text: str) -> set[str]:
    """Distinct word unigrams and bigrams ("a b") of a prompt's question."""
    return Prepared(text).grams


def ngram_value(count: int) -> float:
    """Each present n-gram gets 1/sqrt(number of distinct n-grams): long prompts do not win
    just by having more words."""
    return 1.0 / math.sqrt(count) if count else 0.0


FORMS = ("choice", "fewshot", "numeric", "free")
_MCQ_DENSE = DENSE_INDEX["mcq"]
_NUMERIC_DENSE = frozenset((DENSE_INDEX["word_problem"], DENSE_INDEX["math_syntax"],
                            DENSE_INDEX["units"]))
_NUMBERS_DENSE = DENSE_INDEX["numbers"]


def form_of(prep: Prepared, dense_features: list[tuple[int, float]]) -> str:
    """The prompt's layout: answer options, worked examples first, a numeric problem or
    free text. Weights are learned per layout too, because the same word or the same length
    means something different in a multiple-choice quiz and in a chat request."""
    if prep.fewshot:
        return "fewshot"
    active = set(map(itemgetter(0), dense_features))
    if _MCQ_DENSE in active:
        return "choice"
    if _NUMBERS_DENSE in active and _NUMERIC_DENSE & active:
        return "numeric"
    return "free"


_SENTENCE_ENDS = (". ", "? ", "! ", ".\n")
_QUANTITY_WORDS = frozenset(
    "twice half times double triple percent each per every fewer remaining left spent earn "
    "profit discount average ratio fraction total sum difference cost price rate hour minute "
    "week month year".split())
_QUANTITY_PAIRS = frozenset(("more than", "less than"))
_STEP_WORDS = frozenset(
    "then after later rest if but while another remaining instead respectively first second "
    "third finally".split())
_FRACTION_WORDS = frozenset("half halves third thirds quarter quarters fifth fifths".split())
_BULLETS = frozenset(("- ", "* ", "• "))
_CONSTRAINT_WORDS = ("must", "should", "don't", "do not", "without", "make sure", "ensure",
                     "only", "exactly", "at least")
_LENGTH_WORDS = ("words", "paragraph", "concise", "brief", "detailed", "long")
_PERSONAL = frozenset(("i", "my", "me"))


def _sentences(q: str) -> int:
    # Substring counts instead of a regex scan: this runs on every numeric or free prompt.
    return sum(map(q.count, _SENTENCE_ENDS)) + (q.rstrip()[-1:] in ".!?")


def _between_digits(q: str, sep: str) -> bool:
    """A decimal point or thousands separator: a few find() calls instead of a regex scan."""
    i = q.find(sep, 1)
    while 0 < i < len(q) - 1:
        if q[i - 1].isdigit() and q[i + 1].isdigit():
            return True
        i = q.find(sep, i + 1)
    return False


def _numeric_layout(prep: Prepared) -> list[float]:
    # Numbers come from the tokens (digit runs) already found: a regex scan for numbers costs
    # several microseconds per paragraph. "2.50" and "80,000" are two runs each, so decimals
    # and thousands are recognised by their separators instead.
    q, toks = prep.question, prep.tokens
    nums = prep.numbers
    digits = max(map(len, nums), default=0)
    low = prep.low
    return [
        min(len(set(nums)), 12) / 12,
        min(_sentences(q) or 1, 12) / 12,
        min(sum(map(_QUANTITY_WORDS.__contains__, toks))
            + len(_QUANTITY_PAIRS & prep.grams), 12) / 12,
        min(sum(map(_STEP_WORDS.__contains__, toks)), 10) / 10,
        float("%" in q or "percent" in low),
        float(not _FRACTION_WORDS.isdisjoint(prep.words) or "/" in q),
        float("$" in q),
        float(_between_digits(q, ".")),
        float(digits >= 4 or _between_digits(q, ",")),
        min(digits, 15) / 15,
    ]


def _list_items(q: str) -> int:
    """Lines that start a bullet or a numbered item ("- ", "* ", "3. ", "2) ")."""
    if "\n" not in q:
        return 0
    n = 0
    for line in q.split("\n"):
        head = line.lstrip()[:4]
        if head[:2] in _BULLETS or (head[:1].isdigit() and (". " in head or ") " in head)):
            n += 1
    return n


def _free_layout(prep: Prepared) -> list[float]:
    q, low = prep.question, prep.low
    return [
        min(_list_items(q), 10) / 10,
        min(sum(map(low.count, _CONSTRAINT_WORDS)), 8) / 8,
        float("```" in q),
        min(q.count("?"), 5) / 5,
        float(any(map(low.__contains__, _LENGTH_WORDS))),
        min(_sentences(q), 20) / 20,
        float(not _PERSONAL.isdisjoint(prep.words)),
    ]


_LAYOUT_FEATURES = {"numeric": _numeric_layout, "free": _free_layout}
_LAYOUT_START = {f: _LAYOUT_OFFSET + next(i for i, (lf, _, _) in enumerate(_LAYOUT_SPECS) if lf == f)
                 for f in _LAYOUT_FEATURES}


def active(text: str, task: str | Sequence[float], prep: Prepared
           ) -> tuple[list[tuple[int, float]], str]:
    """All active dense features and the layout: ``dense`` plus the layout's own features.
    Training and inference both call this, so they can never disagree."""
    out = dense(text, task, prep)
    form = form_of(prep, out)
    fn = _LAYOUT_FEATURES.get(form)
    if fn is not None:
        start = _LAYOUT_START[form]
        out += [(start + j, v) for j, v in enumerate(fn(prep)) if v]
    return out, form
