"""``routedeck route PROMPT``: show where a prompt would go, and why, without calling a model."""

from __future__ import annotations

import json

import click

from app.commands.common import config_file_of, load_or_exit, prompt_or_stdin


def decision_row(row_id: str, d) -> dict:
    return {
        "id": row_id,
        "tier": d.tier,
        "model": d.model,
        "provider": d.provider,
        "score": round(d.score, 4),
        "model_score": None if d.model_score is None else round(d.model_score, 4),
        "threshold": d.threshold,
        "task_type": d.task_type,
        "task_label": d.task_label,
        "demands": list(d.demands),
        "follow_up": d.follow_up,
        "memory": d.memory_note,
        "confidence": round(d.confidence, 3),
        "rule": d.rule,
        "reason": d.reason,
        "signals": [s.as_field() for s in d.signals],
        "decision_us": round(d.decision_us, 1),
        "est_cost_usd": d.est_cost_usd,
        "est_cost_by_tier": {e.tier: e.cost_usd for e in d.estimates},
        "strategy": d.strategy,
    }


@click.command()
@click.argument("prompt", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--strategy", type=click.Choice(["learned", "rules"]), help="Override [router] strategy.")
@click.pass_context
def route(ctx: click.Context, prompt: str | None, as_json: bool, strategy: str | None) -> None:
    """Route PROMPT (or stdin) and print the decision. Works offline, spends nothing."""
    prompt = prompt_or_stdin(prompt)
    overrides = {"router": {"strategy": strategy}} if strategy else None
    settings = load_or_exit(config_file_of(ctx), overrides)
    from app.commands.common import stored_memory
    from app.core.ledger.money import format_usd
    from app.core.routing.policy import route as do_route
    from app.core.routing.types import digits_apart

    d = do_route(prompt, settings, memory=stored_memory(settings))
    if as_json:
        click.echo(json.dumps(decision_row("1", d), ensure_ascii=False))
        return
    click.echo(f"tier      {d.tier}  ({d.model} via {d.provider})")
    n = digits_apart(d.threshold, d.score)
    moved = d.model_score is not None and abs(d.model_score - d.score) >= 0.005
    task = d.task_label or d.task_type
    unsure = "   (? = the task classifier is unsure)" if task.endswith("?") else ""
    # The confidence is the classifier score's (how far it is from the threshold), shown
    # inside the parenthesis with the score it measures: beside the task it read as the task
    # classifier's, and beside a score the policy moved, as confidence in the policy's score.
    own = (f"classifier {d.model_score:.2f}, its score confidence {d.confidence:.2f}" if moved
           else f"score confidence {d.confidence:.2f}")
    click.echo(f"score     {d.score:.{n}f} ({own})   task {task}{unsure}")
    if d.demands:
        from app.core.routing.demands import DEMAND_LABELS

        click.echo("demands   " + ", ".join(DEMAND_LABELS.get(x, x) for x in d.demands))
    click.echo(f"reason    {d.reason}")
    for s in d.signals:
        click.echo(f"  {s.render()}")
    costs = "  ".join(f"{e.tier} {format_usd(e.cost_usd)}" for e in d.estimates)
    click.echo(f"est cost  {costs}   (~{d.estimates[0].input_tokens} in / "
               f"{d.estimates[0].output_tokens} out tokens, estimated)")
    # `route` is one decision per process, so always a cold one: said, as the README's
    # "well under a millisecond" is of the warm decisions a console makes.
    click.echo(f"decided   {d.decision_us / 1000:.3f} ms ({d.strategy}; cold: the first "
               "decision of a process, later ones are faster)")
