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
    ("subtle_systems", "subtle systems question"),
    ("probability", "probability/counting"),
    ("discrepancy", "unexplained discrepancy"),
    ("drug_mix", "medicines taken together"),
    ("conditions", "question with conditions"),
    ("constraints", "many or hard constraints"),
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
    "central limit|harmonic series|backpropagation|isentropic|adiabatic|enthalpy|entropy|"
    "carnot|polytropic|buckling|stress tensor|air drag|"
    "linear drag|quadratic drag|air resistance|drag force|swr|impedance|smith chart|"
    "reflection coefficient|over all n|infinite series|infinite sum|zeta")
_HARD_CODE = _terms(
    "lock free|wait free|lockless|concurrent|concurrency|thread safe|mutex|atomic|atomics|"
    "red black|avl|b tree|b+ tree|btree|trie|skip list|raft|paxos|consensus|distributed|"
    "garbage collector|compiler|interpreter|parser|allocator|kernel|driver|cuda|simd|"
    "mpmc|spsc|scheduler|rate limiter|crdt|with deletion|deletion|rebalancing|"
    "zero copy|memory model|async runtime|event loop|jit|bytecode|vm|virtual machine|"
    "consistent hashing|sharding|replication|backoff|robots txt|range scans|ttl")
# Systems where a short question hides a subtle answer: concurrency, consensus, embedded and
# low-level behaviour. Asked why something fails or whether it can ("can a goroutine
# deadlock if it RLocks twice", "raft: why can't a new leader commit...", "counter++ in an ISR
# reads garbage even with volatile"), they are where a cheap model answers confidently and
# wrongly; asked what something is ("what is raft?") they are a lookup.
_SYSTEMS = _HARD_CODE | _terms(
    "deadlock|deadlocks|livelock|race condition|data race|rwmutex|rlock|rlocks|goroutine|"
    "goroutines|memory barrier|happens before|linearizable|linearizability|serializable|"
    "isolation level|quorum|leader election|two phase commit|2pc|3pc|vector clock|byzantine|"
    "false sharing|cache line|priority inversion|isr|interrupt|interrupts|volatile|dma|uart|"
    "i2c|spinlock|reentrant|signal handler")
# Threads are everyday vocabulary: they make a question subtle only with a symptom.
_THREADS = _terms("thread|threads|threading|coroutine|coroutines|async|await")
_WHY = _terms("why|how come|can a|can an|could a|is it possible|what happens|still work|"
              "is it safe|safe to")
_WHY_MIN = 50  # characters: "why use a mutex?" asks for the textbook answer
# A symptom that comes and goes, or only under some conditions (a debugging question's hard
# case: "sometimes reads garbage", "drops bytes at 115200 but fine at 9600"). The shared
# words also make a known error a hard case (_FLAKY, as substrings).
_COMES_AND_GOES = ("sometimes", "intermittent", "randomly", "occasionally", "flaky",
                   "under load", "only when", "every few")
_FLAKY_SYMPTOM = _terms("|".join(_COMES_AND_GOES) + "|intermittently|but fine|works fine|"
                        "even with|drops|hangs|stalls")
# Probability and counting with a twist, where intuition and a cheap model go wrong: "at
# least 3 share a birthday", "expected flips until HTH", "how many ways to tile a 3x10
# board". "Probability of two sixes" or "expected value of a die" has no twist.
_CHANCE = _terms("chance|chances|probability|prob|odds|likelihood|expected number|"
                 "expected value|on average")
_TWIST = _terms("at least|at most|given that|until|share a|born on|conditional|"
                "first see|before the first")
_COUNTING = _terms("how many ways|number of ways|derangement|derangements|arrangements|"
                   "tilings|tile|tiling")  # with a number: "how many ways to say thanks" is not
_WAITING = _terms("expected flips|expected rolls|expected tosses|expected draws|"
                  "expected number of flips|expected number of rolls|expected number of tosses")
# Work vocabulary: a "trip planner" to build or a team's "lunch" rota is a work request.
_WORK = _terms("team|company|startup|customers|customer|users|service|services|server|"
               "servers|database|production|prod|deploy|architecture|system|platform|app|"
               "saas|b2b|revenue|employees|stakeholders|backend|frontend|api|codebase|"
               "python|javascript|typescript|java|rust|golang|sql|code|script|function|"
               "kubernetes|aws|postgres|django|rails|react")
# Two results that should agree and do not, asked about in a technical setting ("pods
# OOMKilled but the working set is way under the limit, what am I missing?", "groupby().mean()
# gives different averages than AVERAGEIF, why?"): the easy explanations are usually already
# ruled out.
_DISCREPANCY = _terms("what am i missing|what im missing|why do they differ|gives different|"
                      "give different|different results|different numbers|different answer|"
                      "different answers|doesn't match|doesnt match|does not match|don't match|"
                      "dont match|not matching|even though|way under|way below|no idea why|"
                      "makes no sense|still fails|still failing|still getting|still happens")
_TECH = _WORK | _SYSTEMS | _THREADS | _terms(
    "pandas|numpy|excel|sheets|spreadsheet|pod|pods|container|containers|docker|k8s|node|npm|"
    "git|linux|bash|query|queries|index|cache|memory|cpu|gpu|latency|http|dns|ssl|tls|nginx|"
    "redis|kafka|terraform|browser|css|html|regex|json|csv|build|tests|ci|metric|metrics")
# Medicines and supplements people combine: two of them in one question is an interaction
# question, where a wrong answer costs more than the call.
_DRUGS = _terms(
    "ibuprofen|paracetamol|acetaminophen|tylenol|advil|aspirin|naproxen|codeine|tramadol|"
    "oxycodone|morphine|warfarin|heparin|apixaban|eliquis|clopidogrel|statin|atorvastatin|"
    "simvastatin|rosuvastatin|metformin|insulin|lisinopril|ramipril|losartan|amlodipine|"
    "metoprolol|propranolol|bisoprolol|furosemide|hydrochlorothiazide|levothyroxine|"
    "sertraline|fluoxetine|escitalopram|citalopram|paroxetine|venlafaxine|duloxetine|"
    "bupropion|mirtazapine|trazodone|amitriptyline|lithium|lamotrigine|valproate|quetiapine|"
    "olanzapine|aripiprazole|risperidone|diazepam|lorazepam|alprazolam|clonazepam|xanax|"
    "zolpidem|melatonin|methylphenidate|ritalin|adderall|amphetamine|atomoxetine|guanfacine|"
    "clonidine|cetirizine|zyrtec|loratadine|claritin|diphenhydramine|benadryl|fexofenadine|"
    "omeprazole|pantoprazole|ranitidine|famotidine|prednisone|prednisolone|amoxicillin|"
    "azithromycin|doxycycline|ciprofloxacin|metronidazole|fluconazole|sumatriptan|"
    "gabapentin|pregabalin|allopurinol|tamoxifen|methotrexate|birth control|the pill|"
    "contraceptive|wort|turmeric|fish oil|ginkgo|ginseng|grapefruit|"
    "magnesium|iron supplement|vitamin d|vitamin k|potassium|alcohol|caffeine|cbd|"
    "antidepressant|antibiotic|antibiotics|blood thinner|blood thinners")
# A form that binds every line or word of a piece of writing: a limerick whose last line is
# a palindrome, a poem without the letter e. One such constraint is as hard as several
# ordinary ones. (A function that finds palindromes is code, not a form.)
_FORM = _terms("palindrome|palindromic|acrostic|lipogram|without the letter|"
               "every word starts|each word starts|every line starts|each line starts|"
               "every line ends|sestina|villanelle|iambic")
_WRITING = frozenset(("creative", "rewrite"))
_CODE = frozenset(("code_write", "code_debug"))
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

# A short question that sets up its own situation ("lambda can't reach dynamodb after I
# removed the nat gateway", "does the balloon move forward when the car brakes?", "was or
# were, and if I swap the order?"): the textbook answer is to a simpler question. The first
# word does not count ("when did the war end?" is a lookup); a calculation's conditions are
# its data, which the learned score reads.
_CONDITION_WORDS = frozenset(("after", "if", "but", "while", "even", "without", "then",
                              "though", "unless", "despite", "instead", "still", "when"))
_ASKS = _terms("why|can|does|do|which|what happens|how come|should|is it|will")
_NO_CONDITIONS = TRANSFORMS | {"greeting", "calculation"}
_CONDITIONS_MAX = 200  # characters: a longer prompt states conditions as a matter of course
# Taking them, not comparing them ("difference between vitamin d and vitamin k" is a lookup).
_INTAKE = _terms("take|taking|takes|took|on|start|starting|add|adding|mix|mixing|combine|"
                 "combining|together|interact|interacts|interaction|safe|ok|okay|alongside")


def _drug_count(prep: Prepared) -> int:
    """How many different medicines or supplements the prompt names (St John's wort is
    its last word, "wort")."""
    return sum(1 for g in prep.grams if VOCAB.mask_of(g) & _DRUGS)


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
    if "nontrivial_code" not in out and (
            (fam & _SYSTEMS and fam & _WHY and len(q) >= _WHY_MIN)
            or (fam & (_SYSTEMS | _THREADS) and fam & _FLAKY_SYMPTOM)):
        out.append("subtle_systems")
    # A program that counts ("number of ways of painting the fence") is judged as code.
    if task not in _CODE and ((fam & _CHANCE and fam & _TWIST) or fam & _WAITING or (
            fam & _COUNTING and any(map(str.isdigit, q[:300])))):
        out.append("probability")
    if fam & _DISCREPANCY and fam & _TECH:
        out.append("discrepancy")
    if fam & _DRUGS and fam & _INTAKE and _drug_count(prep) >= 2:
        out.append("drug_mix")
    if (task not in _NO_CONDITIONS and len(q) <= _CONDITIONS_MAX and (fam & _ASKS or "?" in q)
            and (any(map(_CONDITION_WORDS.__contains__, prep.tokens[1:])) or "w/o" in low)):
        out.append("conditions")
    head = low[:1500]
    pasted = _pasted(prep)
    # Requirements stacked in one request ("with a rate limit, retries, robots.txt support
    # and a bounded queue"); pasted code or docstrings are not requirements on the answer.
    if not pasted and not q.lstrip().startswith(("def ", "from ", "import ", "class ")):
        constraints = sum(map(head.__contains__, _CONSTRAINT_WORDS)) + min(head.count(", "), 4) // 2
        if constraints >= 3 or (fam & _FORM and task in _WRITING):
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
    # Routine tool and infrastructure errors, each with the fix in its own message.
    ("address already in use", "address already in use"),
    ("port is already allocated", "port already allocated"),
    ("permission denied (publickey)", "SSH key not accepted"),
    ("duplicate resource", "duplicate resource"), ("detached head", "detached HEAD"),
    ("externally-managed-environment", "externally managed environment"),
    ("npm err! code eresolve", "npm dependency conflict"),
    # Famous language gotchas: the explanation is in every FAQ.
    ("=[]):", "mutable default argument"), ("= []):", "mutable default argument"),
    ("={}):", "mutable default argument"), ("round(2.5)", "round half to even"),
    ("round(0.5)", "round half to even"), ("0.1 + 0.2", "floating-point rounding"),
    ("0.1+0.2", "floating-point rounding"),
)
# What makes a known message a hard case: it comes and goes, or only under some conditions.
_FLAKY = (*_COMES_AND_GOES, "in production", "in prod ", "race", "after a while", "only on ",
          "concurren", "thread")


def known_error(prep: Prepared) -> str:
    """The name of a beginner's error message the prompt quotes, when nothing says it is a
    hard case of it; else ''."""
    low = prep.low[:3000]
    for text, name in KNOWN_ERRORS:
        if text in low:
            return "" if any(map(low.__contains__, _FLAKY)) else name
    return ""
