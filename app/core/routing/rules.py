"""Rule-based (hand-weighted) complexity scorer: the v1 router, kept for comparison.

Each feature adds a named weight to a logit; the score is its sigmoid. The named weights are
the explanation, so every decision can say exactly why it scored what it did.
"""

from __future__ import annotations

import math
import re

from app.core.routing.types import Signal

_F = re.IGNORECASE

# Short, plainly worded prompts can still be hard: these markers keep them off the cheap
# tier regardless of length (proofs, olympiad maths, graduate science).
_HARD = re.compile(
    r"\b(prove|proof|show that|theorem|lemma|rigorous(ly)?|olympiad|imo|putnam|"
    r"for all (integers|real|n)|if and only if|iff|irrational|infinitely many|"
    r"eigen\w*|hilbert|banach|manifold|homolog\w*|topolog\w*|galois|riemann|"
    r"lagrangian|hamiltonian|schr[oö]dinger|quantum field|renormaliz\w*|"
    r"thermodynamic\w*|entropy|spectroscop\w*|stereochem\w*|enzyme kinetics|"
    r"np-hard|complexity class|asymptotic|big-o)\b",
    _F,
)
_COMPARE = re.compile(r"\b(compare|contrast|trade-?offs?|pros and cons|versus|vs\.?)\b", _F)
_STEPS = re.compile(r"\b(step[- ]by[- ]step|explain (why|how)|justify|derive|walk me through)\b", _F)
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{}();]{2,}|\bimport \w+", _F)
_MATH = re.compile(r"[=^∫∑√≤≥]|\\frac|\d+\s*[-+*/]\s*\d+|\b(solve|integral|derivative)\b", _F)
_NUMBERS = re.compile(r"\d+(\.\d+)?\s*(%|km|kg|m/s|usd|\$|mph|hours?|minutes?|cm|mg|ml)", _F)
_MULTI_Q = re.compile(r"\?")
_CONSTRAINTS = re.compile(r"\b(must|should not|must not|exactly|at least|at most|only use|without using)\b", _F)
_GREETING = re.compile(r"^\s*(hi|hello|hey|thanks?|thank you|good (morning|evening))\b", _F)
_SIMPLE = re.compile(
    r"\b(translate|summari[sz]e|rephrase|fix (the )?typo|capital of|define|synonym|spell)\b", _F
)

BIAS = -0.9


def features(prompt: str) -> list[Signal]:
    out: list[Signal] = []
    n = len(prompt)
    if _HARD.search(prompt):
        out.append(Signal("asks for a proof or advanced maths/science", 2.4))
    if _COMPARE.search(prompt):
        out.append(Signal("asks to compare options", 0.7))
    if _STEPS.search(prompt):
        out.append(Signal("asks for step-by-step reasoning", 0.6))
    if _CODE.search(prompt):
        out.append(Signal("contains or asks for code", 0.6))
    if _MATH.search(prompt):
        out.append(Signal("contains maths", 0.5))
    if _NUMBERS.search(prompt):
        out.append(Signal("numbers and units", 0.3))
    questions = len(_MULTI_Q.findall(prompt))
    if questions >= 3:
        out.append(Signal(f"{questions} questions in one prompt", 0.4))
    constraints = len(_CONSTRAINTS.findall(prompt))
    if constraints:
        out.append(Signal("explicit constraints", min(0.2 * constraints, 0.6)))
    if n > 1500:
        out.append(Signal("long prompt", 0.5))
    elif n > 400:
        out.append(Signal("medium-length prompt", 0.2))
    elif n < 60 and not out:
        out.append(Signal("short, simple prompt", -0.6))
    if _GREETING.search(prompt) and n < 80:
        out.append(Signal("short greeting", -1.5))
    if _SIMPLE.search(prompt):
        out.append(Signal("routine request (translate, define, summarise)", -0.5))
    return out


def score(prompt: str) -> tuple[float, list[Signal]]:
    sigs = features(prompt)
    logit = BIAS + sum(s.weight for s in sigs)
    p = 1.0 / (1.0 + math.exp(-logit))
    # Report contributions in probability space so "+0.21" reads as "+21 points of score".
    base = 1.0 / (1.0 + math.exp(-BIAS))
    scale = (p - base) / (logit - BIAS) if logit != BIAS else 0.0
    shown = [Signal(s.label, s.weight * scale) for s in sigs]
    shown.sort(key=lambda s: abs(s.weight), reverse=True)
    return p, shown
