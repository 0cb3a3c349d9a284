"""Human verdicts as labelled rows in the ../shared/data/routing format.

These rows feed `routedeck export --labels`, `routedeck eval --mine` and `routedeck
calibrate`, so the router can be measured and tuned on the user's own traffic.
"""

from __future__ import annotations

from typing import Any

from app.core.routing.memory import Memory

# verdict -> (cheap_score, premium_score, preference)
LABEL_SCORES = {
    "cheap_enough": (1.0, 1.0, "cheap_win"),
    "tie": (1.0, 1.0, "tie"),
    "premium_better": (0.0, 1.0, "premium_win"),
}


def verdict_memory(store: Any, settings: Any) -> Memory:
    """The user's judged prompts as the router's memory (every session's verdicts)."""
    rows, _ = label_rows(store, settings)
    return Memory.from_rows(rows, settings.router.memory_min_similarity)


def label_rows(store: Any, settings: Any, session_id: int | None = None,
               since: float | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Verdicts as routing-data rows, and how many had no prompt text to export, by why:
    "deleted" (its session was deleted) or "hash_only" ([privacy] store_prompts = false)."""
    order = {t.name: i for i, t in enumerate(settings.tiers)}
    rows: list[dict[str, Any]] = []
    skipped = {"deleted": 0, "hash_only": 0}
    for v in store.verdicts(session_id=session_id, since=since):
        given = store.request(v["answer_request_id"])
        other = store.request(v["compared_request_id"])
        if given is None or other is None:
            continue
        if not given["prompt"]:
            sid = given.get("session_id")
            gone = sid is not None and store.session(int(sid)) is None
            skipped["deleted" if gone else "hash_only"] += 1
            continue
        cheap, premium = given, other
        # The cheaper tier is the "cheap" side; the compare view escalates from the answer
        # given, so that is the default when tiers are unknown or equal.
        if order.get(other["tier"], -1) < order.get(given["tier"], -1) and other["tier"] in order:
            cheap, premium = other, given
        cheap_score, premium_score, preference = LABEL_SCORES[v["verdict"]]
        rows.append({
            "id": f"mine/{v['id']}",
            "source": "mine",
            "dataset": "routedeck",
            "category": given["task_type"] or "unknown",
            "task_type": given["task_type"] or "unknown",
            "prompt": given["prompt"],
            "cheap_model": cheap["model"],
            "premium_model": premium["model"],
            "cheap_score": cheap_score,
            "premium_score": premium_score,
            "score_type": "human_verdict",
            "preference": preference,
            "cheap_price_per_mtok_in": cheap["price_input_per_mtok"],
            "cheap_price_per_mtok_out": cheap["price_output_per_mtok"],
            "premium_price_per_mtok_in": premium["price_input_per_mtok"],
            "premium_price_per_mtok_out": premium["price_output_per_mtok"],
            "cheap_cost_usd": cheap["cost_usd"],
            "premium_cost_usd": premium["cost_usd"],
            "cheap_output_chars": len(cheap["answer"]) if cheap["answer"] is not None else None,
            "premium_output_chars": (len(premium["answer"])
                                     if premium["answer"] is not None else None),
            "other_scores": None,
            "flags": [],
            "verdict": v["verdict"],
        })
    return rows, skipped


def mine_outcomes(store: Any, settings: Any, strategy: str | None = None,
                  bands: bool = True):  # -> tuple
    """(outcomes, router scores, rows) for the stored verdicts, scored as ``route`` scores
    them (task policy included, no memory: see ``memory_scores``). ``bands`` (default, what
    `calibrate` needs): prompts the policy routes regardless of the threshold get
    threshold-free scores (policy.policy_score); False: the scores ``route`` reports."""
    from app.core.evaluation.metrics import outcome_from_row

    settings = _with_strategy(settings, strategy)
    rows, _ = label_rows(store, settings)
    outcomes, scores, kept = [], [], []
    for row in rows:
        o = outcome_from_row(row, row["prompt"])
        if o is None:
            continue
        outcomes.append(o)
        scores.append(route_score(row["prompt"], settings, bands=bands))
        kept.append(row)
    return outcomes, scores, kept


def _with_strategy(settings: Any, strategy: str | None) -> Any:
    if strategy is None or strategy == settings.router.strategy:
        return settings
    return settings.model_copy(update={"router": settings.router.model_copy(
        update={"strategy": strategy})})


def route_score(prompt: str, settings: Any, memory: Any = None, skip: int = -1,
                bands: bool = False) -> float:
    """The score ``route`` reports for a prompt (no session state or budget), optionally with
    a verdict memory that leaves item ``skip`` out; ``bands``: the threshold-free form."""
    from app.core.routing.classify import classify
    from app.core.routing.policy import policy_score

    r = settings.router
    c = classify(prompt, strategy=r.strategy, examples=r.task_examples or None, memory=memory,
                 follow_ups=False, memory_skip=skip)
    return policy_score(c, settings, len(prompt), bands)


def memory_scores(rows: list[dict[str, Any]], settings: Any) -> list[float]:
    """Each verdict row scored with a memory of all the other verdicts (leave-one-out), so
    a verdict never predicts itself: what the memory would have done for that prompt."""
    from app.core.routing.memory import Memory

    memory = Memory(min_similarity=settings.router.memory_min_similarity)
    ids = [memory.add(r["prompt"], r["verdict"]) for r in rows]
    return [route_score(r["prompt"], settings, memory, skip=i) for r, i in zip(rows, ids, strict=True)]
