"""prompt -> Classification: task type, complexity score, confidence and signals.

No network and no LLM call: the learned model (shipped weights) scores the prompt, or the
hand-weighted rules when ``strategy="rules"`` or the weights are missing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from app.core.routing import features, rules, tasktype
from app.core.routing.types import Classification, Signal

_FOLLOW_UP_CHARS = 80


def _learned_scorer():  # -> learned.Scorer | None
    # Imported here so strategy="rules" never pays for loading the weights.
    from app.core.routing import learned

    return learned.scorer()


def _context_text(prompt: str, history: Sequence[dict[str, str]] | None) -> tuple[str, bool]:
    """Short follow-ups ("and why?") are as hard as the question they follow."""
    if not history or len(prompt) >= _FOLLOW_UP_CHARS:
        return prompt, False
    last_user = next((m.get("content") or "" for m in reversed(history) if m.get("role") == "user"), "")
    if not last_user:
        return prompt, False
    return f"{last_user[-2000:]}\n{prompt}", True


def classify(
    prompt: str,
    history: Sequence[dict[str, str]] | None = None,
    strategy: str = "learned",
) -> Classification:
    # Loading the weights (once per process) is start-up, not part of this decision's time.
    scorer = _learned_scorer() if strategy == "learned" else None
    start = time.perf_counter()
    text, follow_up = _context_text(prompt, history)
    prep = features.prepare(text)
    task = tasktype.detect(text, prep)
    used = "rules"
    result = None
    if strategy == "learned":
        if scorer is not None:
            result = scorer(text, task_type=task, prep=prep)
            used = "learned"
    if result is None:
        result = rules.score(text)
    score, signals = result
    signals = list(signals)
    if follow_up:
        signals.append(Signal("follow-up: scored with the previous question", 0.0))
    score = min(1.0, max(0.0, float(score)))
    confidence = min(1.0, abs(score - 0.5) * 2.0)
    decision_us = (time.perf_counter() - start) * 1e6
    return Classification(task, score, confidence, tuple(signals[:5]), decision_us, used)
