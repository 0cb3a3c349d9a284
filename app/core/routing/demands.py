"""Demand factors: what a prompt asks of the answer, beyond its task type.

Each factor is a named, explainable test on the prepared prompt (word sets and a few counts,
no regex scan of the whole text). The policy can lift a prompt a tier for each factor that
fired (``[router.demand_lift]``), and the decision names them ("asks for a proof").
"""

from __future__ import annotations

import re

from app.core.routing.features import Prepared, prepare
from app.core.routing.vocab import VOCAB


def _terms(s: str) -> int:
    """A term list as a word family (vocab.py): its bit, tested on Prepared.families."""
    return VOCAB.family(s.split("|"))


# (id, label shown in the decision, at most ~24 characters)
DEMANDS: tuple[tuple[str, str], ...] = (
    ("proof", "asks for a proof"),
    ("advanced_math", "advanced maths/science"),
    ("nontrivial_code", "non-trivial code"),
    ("constraints", "many constraints"),
    ("long_output", "long answer expected"),
    ("expert_domain", "expert domain"),
    ("multi_step", "several steps/questions"),
    ("pasted", "pasted log/code to study"),
)
DEMAND_IDS = tuple(d for d, _ in DEMANDS)
DEMAND_LABELS = dict(DEMANDS)

_PROOF = _terms("prove|proof|proofs|derive|derivation|show that|rigorous|rigorously|"
                "justify|formally verify|closed form")
_ADVANCED = _terms(
    "theorem|lemma|eigenvalue|eigenvalues|eigenvector|hilbert|banach|manifold|manifolds|"
    "homology|homotopy|topology|topological|galois|riemann|lagrangian|hamiltonian|"
    "schrodinger|schrödinger|quantum|renormalization|thermodynamics|stochastic|"
    "differential equation|pde|pdes|ode|fourier|laplace|integral|integrals|convergence|"
    "converges|diverges|asymptotic|np hard|np complete|irrational|infinitely many|"
    "induction|bayesian|posterior|markov|kalman|black scholes|navier stokes|tensor|"
    "olympiad|putnam|combinatorics|number theory|group theory|measure theory|p np|"
    "central limit|harmonic series|backpropagation|pde")
_HARD_CODE = _terms(
    "lock free|wait free|lockless|concurrent|concurrency|thread safe|mutex|atomic|atomics|"
    "red black|avl|b tree|b+ tree|btree|trie|skip list|raft|paxos|consensus|distributed|"
    "garbage collector|compiler|interpreter|parser|allocator|kernel|driver|cuda|simd|"
    "mpmc|spsc|scheduler|rate limiter|crdt|with deletion|deletion|rebalancing|"
    "zero copy|memory model|async runtime|event loop|jit|bytecode|vm|virtual machine|"
    "consistent hashing|sharding|replication|backoff|robots txt|range scans|ttl")
_CODE_ASK = _terms("implement|write|build|code|program|create|function|class|library|cli")
_CONSTRAINT_WORDS = ("must ", "without ", "exactly", "at least", "at most", "no more than",
                     "make sure", "ensure", "don't ", "do not ", "never ", "with a ", "including ",
                     "support", " and a ", "with retries", "per-", "bounded")
_LONG = _terms("comprehensive|in depth|in detail|thorough|thoroughly|essay|design doc|"
               "technical design|whitepaper|chapters|serialized|novella|full report|"
               "detailed report|detailed plan|rollback plans|rollout plan")
_EXPERT = (
    ("legal", _terms("contract|clause|clauses|legal|legally|lawyer|law|laws|enforceable|"
                     "liability|liable|indemnify|indemnity|indemnification|nda|gdpr|hipaa|"
                     "ccpa|compliance|compliant|lease|tenant|landlord|lawsuit|sue|court|"
                     "statute|copyright|trademark|patent|terms of service|my rights|laid off|"
                     "employment law|regulation|regulatory")),
    ("medical", _terms("symptom|symptoms|diagnosis|diagnose|dosage|dose|side effects|drug|"
                       "drugs|medication|medications|mri|ct scan|blood test|surgery|"
                       "pregnant|pregnancy|disease|chest pain|antidepressant|antibiotics|"
                       "interaction|interactions|prescription|clinical|wort|lithium|"
                       "ibuprofen|warfarin|birth control|disc|cancer|diabetes")),
    ("financial", _terms("tax|taxes|taxed|deduct|deduction|irs|accounting|ifrs|gaap|audit|"
                         "balance sheet|cash flow|invest|investment|mortgage|retirement|"
                         "stock options|vesting|option pool|safe notes|valuation|"
                         "depreciation|solvency|401k|pension|w 2|1099|capital gains")),
)
_EXPERT_ALL = sum(bit for _, bit in _EXPERT)
_LEN_WORDS = _terms("word|words|line|lines|page|pages")
_PART_WORDS = _terms("part|parts|chapter|chapters|step|steps|section|sections|episode|episodes")
_LEN_ASK = re.compile(r"(\d{3,5})[- ]?(word|words|line|lines|page|pages)\b")
_PARTS = re.compile(r"(\d+)[- ](part|chapter|step|section|episode)s?\b")
_LOG_MARKS = ("Traceback", "ERROR", "Error:", "error:", "Exception", "FATAL", "panic:",
              "    at ", "```", "WARN", "stack trace")


_WALK = _terms("step by step|walk me")


def expert_domain(prep: Prepared) -> str:
    """'legal' / 'medical' / 'financial' when the prompt uses that field's vocabulary."""
    fam = prep.families
    for name, bit in _EXPERT:
        if fam & bit:
            return name
    return ""


# Task types that work on a text the prompt brings: what that text says ("tenants must
# ensure...", "thermodynamics") asks nothing of the answer, only the instruction does.
TRANSFORMS = frozenset(("extraction", "classification", "summarize", "translate", "rewrite"))
_BROUGHT = 120  # characters after the instruction that make it a brought text


def instruction_of(text: str) -> str:
    """The instruction before a brought text ("summarise this email: Dear tenants, ..."):
    the words up to the first colon, newline or quote in the first 200 characters, when
    a long enough text follows; else ''."""
    if len(text) < 200:
        return ""
    head = text[:200]
    cut = min((i for i in (head.find(":"), head.find("\n"), head.find('"'), head.find("'"))
               if i >= 8), default=-1)
    if cut <= 0 or len(text) - cut < _BROUGHT:
        return ""
    # It points at the text ("this email", "the following"): a colon inside a puzzle's own
    # statement ("we split 3 chores each week: bins, ...") introduces nothing brought.
    words = set(re.findall(r"[a-z]+", text[:cut].lower()))
    return text[:cut] if words & _POINTERS else ""


_POINTERS = frozenset(("this", "these", "following", "below", "above", "here", "it"))


def detect(prep: Prepared, task: str) -> tuple[str, ...]:
    """The demand factors that fired, in DEMANDS order; for a transform of a brought text,
    those of its instruction (and "pasted" of the whole)."""
    if task in TRANSFORMS:
        instruction = instruction_of(prep.text)
        if instruction:
            own = _detect(prepare(instruction), task)
            return (*own, "pasted") if _pasted(prep) and "pasted" not in own else own
    return _detect(prep, task)


def _pasted(prep: Prepared) -> bool:
    return len(prep.text) >= 200 and any(map(prep.question.__contains__, _LOG_MARKS))


def _detect(prep: Prepared, task: str) -> tuple[str, ...]:
    fam, low, q = prep.families, prep.low, prep.question
    out: list[str] = []
    if fam & _PROOF:
        out.append("proof")
    if fam & _ADVANCED:
        out.append("advanced_math")
    if task in ("code_write", "code_debug") or fam & _CODE_ASK:
        if fam & _HARD_CODE:
            out.append("nontrivial_code")
    head = low[:1500]
    pasted = _pasted(prep)
    # Requirements stacked in one request ("with a rate limit, retries, robots.txt support
    # and a bounded queue"); pasted code or docstrings are not requirements on the answer.
    if not pasted and not q.lstrip().startswith(("def ", "from ", "import ", "class ")):
        constraints = sum(map(head.__contains__, _CONSTRAINT_WORDS)) + min(head.count(", "), 4) // 2
        if constraints >= 3:
            out.append("constraints")
    # The regexes only run when their words are there (a scan of a long prompt costs more
    # than every other factor together).
    m = _LEN_ASK.search(head) if fam & _LEN_WORDS else None
    parts = _PARTS.search(head) if fam & _PART_WORDS else None
    if (m and int(m.group(1)) >= 800) or (parts and int(parts.group(1)) >= 5) or fam & _LONG:
        out.append("long_output")
    if fam & _EXPERT_ALL:
        out.append("expert_domain")
    if q.count("?") >= 3 or fam & _WALK:
        out.append("multi_step")
    if pasted:
        out.append("pasted")
    return tuple(out)


# Personal, everyday requests: a trip, a meal, a workout, the house, the car, a purchase, a
# party.
EVERYDAY = (
    ("travel", _terms("itinerary|vacation|holiday|holidays|sightseeing|packing list|road trip|"
                      "day trip|honeymoon|trip|weekend in|flights|hostel|hostels|backpacking|"
                      "interrail|airbnb")),
    ("cooking", _terms("recipe|recipes|cook|cooking|dinner|dinners|lunch|breakfast|meal|"
                       "meals|meal plan|bake|baking|chicken|pasta|vegetarian|vegan|grocery|"
                       "groceries|snacks|leftovers|tonight|boil|yolk|roast|fry|"
                       "oven|soup|salad|sandwich|cake|cookies|steak|pizza|omelette")),
    ("fitness", _terms("gym|workout|workouts|stretches|stretching|posture|marathon|push ups|"
                       "dumbbells|yoga|fitness")),
    ("home", _terms("garden|gardening|houseplant|houseplants|chores|laundry|decorate|"
                    "furniture|puppy|kitten|my dog|my cat")),
    ("car", _terms("my car|brakes|tyres|tires|oil change")),
    ("shopping", _terms("iphone|pixel|laptop|headphones|earbuds|smartwatch|new phone|"
                        "which phone|tv|vacuum|mattress")),
    ("family", _terms("birthday|gift|gifts|wedding|my kids|toddler|date night|anniversary|"
                      "hobby|hobbies|party ideas")),
)
_EVERYDAY_ALL = sum(bit for _, bit in EVERYDAY)
# A product is a purchase only when the prompt is about buying or choosing one: "a laptop, a
# bottle and 9 eggs" to stack into a tower is a puzzle.
_SHOPPING = dict(EVERYDAY)["shopping"]
_CHOOSING = _terms("buy|buying|purchase|worth it|worth buying|budget|compare|vs|versus|"
                   "recommend|should i get|which one|better camera|battery life")
# Work vocabulary: a "trip planner" to build or a team's "lunch" rota is a work request.
_WORK = _terms("team|company|startup|customers|customer|users|service|services|server|"
               "servers|database|production|prod|deploy|architecture|system|platform|app|"
               "saas|b2b|revenue|employees|stakeholders|backend|frontend|api|codebase|"
               "python|javascript|typescript|java|rust|golang|sql|code|script|function|"
               "kubernetes|aws|postgres|django|rails|react")


# A story about somebody else ("a woman shoots her husband ... they go out to dinner") is a
# puzzle or a text to work on, not the user's own dinner.
_FIRST_PERSON = _terms("i|me|my|we|us|our|i m|i ve|i d")
_THIRD_PERSON = _terms("he|she|him|her|his|hers|himself|herself")


def everyday_topic(prep: Prepared) -> str:
    """'travel' / 'cooking' / ... when the prompt is about personal, everyday life: its
    words, no work vocabulary, and not a story about somebody else."""
    fam = prep.families
    if not fam & _EVERYDAY_ALL or fam & (_WORK | _HARD_CODE | _EXPERT_ALL):
        return ""
    if fam & _THIRD_PERSON and not fam & _FIRST_PERSON:
        return ""
    for name, bit in EVERYDAY:
        if fam & bit and (bit != _SHOPPING or fam & _CHOOSING):
            return name
    return ""


# Error messages every beginner meets, each with a well-known fix: the cheapest tier explains
# "IndentationError: expected an indented block" as well as the best one. (text in the
# lowercased prompt, name shown in the decision)
KNOWN_ERRORS: tuple[tuple[str, str], ...] = (
    ("indentationerror", "IndentationError"), ("unexpected indent", "IndentationError"),
    ("syntaxerror", "SyntaxError"), ("nameerror", "NameError"),
    ("can only concatenate", "TypeError"), ("unsupported operand type", "TypeError"),
    ("object is not subscriptable", "TypeError"), ("object is not callable", "TypeError"),
    ("object is not iterable", "TypeError"), ("modulenotfounderror", "ModuleNotFoundError"),
    ("no module named", "ModuleNotFoundError"), ("zerodivisionerror", "ZeroDivisionError"),
    ("list index out of range", "IndexError"), ("invalid literal for int", "ValueError"),
    ("has no attribute", "AttributeError"), ("unboundlocalerror", "UnboundLocalError"),
    ("filenotfounderror", "FileNotFoundError"),
    ("cannot read properties of undefined", "TypeError (undefined)"),
    ("cannot read properties of null", "TypeError (null)"),
    ("cannot read property", "TypeError (undefined)"), ("is not a function", "TypeError"),
    ("is not defined", "ReferenceError"), ("unexpected token", "SyntaxError"),
    ("was not declared in this scope", "undeclared name"),
    ("does not name a type", "unknown type"), ("expected ';'", "missing semicolon"),
    ("cannot find symbol", "cannot find symbol"), ("incompatible types", "incompatible types"),
    ("arrayindexoutofboundsexception", "ArrayIndexOutOfBounds"),
    ("declared and not used", "unused variable"), ("imported and not used", "unused import"),
    ("command not found", "command not found"),
)
# What makes a known message a hard case: it comes and goes, or only under some conditions.
_FLAKY = ("sometimes", "intermittent", "under load", "in production", "in prod ", "randomly",
          "occasionally", "flaky", "race", "after a while", "only when", "only on ",
          "every few", "concurren", "thread")


def known_error(prep: Prepared) -> str:
    """The name of a beginner's error message the prompt quotes, when nothing says it is a
    hard case of it; else ''."""
    low = prep.low[:3000]
    for text, name in KNOWN_ERRORS:
        if text in low:
            return "" if any(map(low.__contains__, _FLAKY)) else name
    return ""
