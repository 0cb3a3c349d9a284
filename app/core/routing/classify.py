"""prompt -> Classification: task type, demand factors, score, confidence and signals.

No network and no LLM call. Steps, each explainable:

1. follow-up: an earlier turn counts only when the prompt refers back to it (followup.py);
   then the prompt is read together with the question it continues;
2. task type from the task classifier (tasktype.py), steered by the user's own examples;
3. demand factors (demands.py): asks for a proof, many constraints, long output ...;
4. score = P(premium answers better) from the learned model (learned.py), or the
   hand-weighted rules when ``strategy="rules"`` or the weights are missing, moved by the
   user's verdicts on similar prompts (memory.py) when a memory is given.

What the task type and demands mean for the tier is the policy's decision (policy.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

from app.core.routing import demands, features, followup, labels, lookup, tasktype
from app.core.routing.types import TASK_LABELS, Classification, Signal

MAX_SIGNALS = 5
SIGNAL_CHARS = 30


_learned = None  # the learned module, once a decision has asked for it


def _learned_scorer():  # -> learned.Model | None
    # Imported on first use so strategy="rules" never pays for loading the weights; kept in a
    # global because an import statement costs a microsecond even when already imported.
    global _learned
    if _learned is None:
        from app.core.routing import learned

        _learned = learned
    return _learned.model()


def _logit(p: float) -> float:
    p = min(1 - 1e-9, max(1e-9, p))
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


# Under this probability the task type is a guess among several (a short "Explain X" spreads
# over half the types): its label says so ("creative writing?") rather than look certain. On
# the everyday set 13 of 133 prompts fall under it, 3 of the 11 the classifier gets wrong.
UNSURE_TASK = 0.25


def task_label(guess) -> str:  # tasktype.TaskGuess
    label = TASK_LABELS.get(guess.task, guess.task)
    return f"{label}?" if guess.confidence < UNSURE_TASK and not guess.example else label


_NUMERIC_TASKS = frozenset(("calculation", "proof", "logic"))
_NUMERIC_LABELS = frozenset(("maths words", "quantity words"))


def short(label: str) -> str:
    return label if len(label) <= SIGNAL_CHARS else label[: SIGNAL_CHARS - 1] + "…"


def classify(
    prompt: str,
    history: Sequence[dict[str, str]] | None = None,
    strategy: str = "learned",
    *,
    examples: Mapping[str, Sequence[str]] | None = None,
    memory=None,  # memory.Memory | None
    follow_ups: bool = True,
    memory_skip: int = -1,
) -> Classification:
    # Loading the weights (once per process) is start-up, not part of this decision's time.
    model = _learned_scorer() if strategy == "learned" else None
    ex_index = tasktype.examples_for(examples)
    tasktype.model()
    lookup.INDEX.ready()
    start = time.perf_counter()
    prep = features.prepare(prompt)
    anchor = followup.anchor(prompt, history, prep) if follow_ups and history else ""
    if anchor:
        text = f"{anchor[-followup.ANCHOR_CHARS:]}\n{prompt}"
        prep = features.prepare(text)
    else:
        text = prompt
    guess = tasktype.guess(prep, ex_index)
    fired = demands.detect(prep, guess.task)
    recall = memory.recall(prep, skip=memory_skip) if memory is not None and len(memory) else None
    shift = recall.shift if recall is not None else 0.0
    used = "rules"
    active = features.active(text, guess.probs, prep)
    if model is not None:
        score, signals = model.score(text, guess.probs, prep, shift=shift, active=active)
        used = "learned"
    else:
        from app.core.routing import rules  # the v1 scorer: only loaded when asked for

        score, signals = rules.score(text)
        if shift:
            score = _sigmoid(_logit(score) + shift)
    out: list[Signal] = []
    if anchor:
        out.append(Signal(short(f"follow-up: {followup.first_words(anchor, 3, 18)}"), 0.0))
    if recall is not None:
        verdict = {"premium_better": "premium", "cheap_enough": "cheap ok",
                   "tie": "a tie"}[recall.verdict]
        # Its size in probability points: the score with and without the memory's pull.
        moved = score - _sigmoid(_logit(score) - shift)
        out.append(Signal(f"you judged similar: {verdict}", moved))
    # The model's own contributions (not its task-type ones), labels cut to the panel width.
    # Maths and quantity words are named only where they mean that: "product" in a launch
    # plan counted toward the score, but "maths words 'product'" is no reason a person gives.
    numeric = active[1] == "numeric" or guess.task in _NUMERIC_TASKS
    out += [s if len(s.label) <= SIGNAL_CHARS else Signal(short(s.label), s.weight)
            for s in signals if not s.label.startswith("task: ")
            and (numeric or labels.base_label(s.label) not in _NUMERIC_LABELS)]
    score = min(1.0, max(0.0, float(score)))
    confidence = min(1.0, abs(score - 0.5) * 2.0)
    decision_us = (time.perf_counter() - start) * 1e6
    return Classification(
        guess.task, score, confidence, tuple(out[:MAX_SIGNALS]), decision_us, used,
        task_label=task_label(guess), task_confidence=guess.confidence,
        demands=fired, domain=demands.expert_domain(prep) if "expert_domain" in fired else "",
        follow_up=followup.first_words(anchor) if anchor else "",
        memory_note=recall.note if recall is not None else "",
        memory_shift=shift, form=active[1], task_example=guess.example,
        task_probs=guess.probs, everyday=demands.everyday_topic(prep),
        known_error=demands.known_error(prep) if guess.task == "code_debug" else "",
    )
