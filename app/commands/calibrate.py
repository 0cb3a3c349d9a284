"""``routedeck calibrate``: fit the premium threshold to a target on your labels, then (after
confirmation) write it to the config file, keeping its comments."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from app.commands.common import EXIT_CONFIG, config_file_of, load_or_exit


def _fmt(v: float | None, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    return f"{v:.1%}" if pct else f"{v:.3f}"


def _table(before, after) -> list[str]:
    rows = [
        ("premium threshold", _fmt(before.threshold, False), _fmt(after.threshold, False)),
        ("prompts to premium", _fmt(before.premium_share), _fmt(after.premium_share)),
        ("quality vs premium-only", _fmt(before.quality_share), _fmt(after.quality_share)),
        ("gap recovered (PGR)", _fmt(before.pgr), _fmt(after.pgr)),
        ("cost vs premium-only", _fmt(before.cost_share), _fmt(after.cost_share)),
    ]
    out = [f"  {'':<26}{'now':>10}{'calibrated':>12}"]
    out += [f"  {name:<26}{a:>10}{b:>12}" for name, a, b in rows]
    return out


def write_thresholds(path: Path, thresholds: list[float]) -> None:
    """Set [router] thresholds in the TOML file, preserving every comment and other key."""
    import tomlkit

    doc = tomlkit.parse(path.read_text("utf-8")) if path.exists() else tomlkit.document()
    router = doc.get("router")
    if router is None:
        router = tomlkit.table()
        doc["router"] = router
    arr = tomlkit.array()
    arr.extend(round(t, 4) for t in thresholds)
    router["thresholds"] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(tomlkit.dumps(doc), "utf-8")
    tmp.replace(path)


def _labels(settings, data: Path | None):
    """(outcomes, scores, description of where they came from)."""
    from app.core.evaluation.calibrate import MIN_LABELS
    from app.core.evaluation.labels import mine_outcomes
    from app.core.ledger.store import StoreError, open_store

    if data is not None:
        from app.commands.eval import load_outcomes

        outcomes, scores = load_outcomes(data, settings)
        return outcomes, scores, f"{len(outcomes)} labelled rows from {data}"
    try:
        with open_store(settings) as store:
            outcomes, scores, _ = mine_outcomes(store, settings)
    except StoreError as exc:
        click.echo(f"cannot open the ledger ({exc}); using the shipped sample", err=True)
        outcomes, scores = [], []
    if len(outcomes) >= MIN_LABELS:
        return outcomes, scores, f"your {len(outcomes)} verdicts"
    from app.core.evaluation.sample import calibration_sample

    mine = len(outcomes)
    sample = calibration_sample()
    if sample is None or settings.router.strategy != "learned":
        raise click.UsageError(
            f"only {mine} verdict(s) with their prompt stored (at least {MIN_LABELS} are "
            "needed; a deleted session's verdicts have none) and no "
            "shipped sample applies to this strategy: collect verdicts with the escalate key or "
            "`routedeck review`, or pass --data FILE (routing-data JSONL)")
    outcomes, scores = sample
    return outcomes, scores, (
        f"only {mine} verdict(s) with their prompt stored, {MIN_LABELS} needed; using the "
        "shipped out-of-fold "
        f"sample of {len(outcomes)} labelled prompts instead")


@click.command()
@click.option("--target-premium-share", "share", type=click.FloatRange(0, 1),
              help="At most this fraction of prompts go to the top tier (e.g. 0.2).")
@click.option("--target-quality", "quality", type=click.FloatRange(0, 1),
              help="Reach this fraction of premium-only quality as cheaply as possible (e.g. 0.95).")
@click.option("--budget", type=click.FloatRange(0, 1),
              help="Spend at most this fraction of the always-premium cost (e.g. 0.4).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Calibrate on this routing-data JSONL instead of your stored verdicts.")
@click.option("-y", "--yes", is_flag=True, help="Write the config without asking.")
@click.pass_context
def calibrate(ctx: click.Context, share: float | None, quality: float | None,
              budget: float | None, data: Path | None, yes: bool) -> None:
    """Pick the premium threshold that meets ONE target, show before/after, and save it."""
    if sum(x is not None for x in (share, quality, budget)) != 1:
        raise click.UsageError(
            "give exactly one of --target-premium-share, --target-quality or --budget")
    settings = load_or_exit(config_file_of(ctx))
    from app.core.config import paths
    from app.core.evaluation.calibrate import calibrate as fit
    from app.core.evaluation.calibrate import new_thresholds, operating_point

    outcomes, scores, where = _labels(settings, data)
    if not outcomes:
        raise click.UsageError("no labelled rows to calibrate on")
    target = ("premium share <= " + f"{share:.0%}" if share is not None else
              f"quality >= {quality:.0%} of premium-only" if quality is not None else
              f"cost <= {budget:.0%} of always-premium")
    click.echo(f"calibrating on {where}; target: {target}")
    current = settings.router.thresholds
    # The low-confidence band sends scores just under the threshold up too, so the router's
    # real boundary is threshold - margin: fit that, then write it back with the margin.
    margin = settings.router.low_confidence_margin
    before = operating_point(outcomes, scores, current[-1] - margin)
    after = fit(outcomes, scores, premium_share=share, quality=quality, budget=budget)
    before = replace(before, threshold=current[-1])
    after = replace(after, threshold=min(1.0, after.threshold + margin))
    for line in _table(before, after):
        click.echo(line)
    if margin:
        click.echo(f"  (thresholds include the low-confidence margin of {margin:g})")
    # Measured where the labels are: on open prompts the task minimums (expert review,
    # proofs, debugging, analysis), the demand lifts and the short-request rule decide many
    # routes whatever the threshold, so the shares above need not carry over.
    click.echo("  these figures are for the labelled prompts above; on your own traffic task "
               "minimums and demand lifts also decide (`routedeck audit YOUR_LOG` shows where "
               "its prompts would go)")
    thresholds = new_thresholds(current, after.threshold)
    if thresholds == list(current):
        click.echo("the current thresholds already meet the target; nothing to change.")
        return
    path = paths.resolve_config_file(config_file_of(ctx)) or paths.default_config_file()
    click.echo(f"new [router] thresholds = {[round(t, 4) for t in thresholds]} -> {path}")
    if not yes and not click.confirm("Write it?", default=False):
        click.echo("config left unchanged.")
        return
    try:
        write_thresholds(path, thresholds)
    except OSError as exc:
        click.echo(f"could not write {path}: {exc.strerror}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"wrote {path}")
    from app.core.config.errors import env_variable

    var = env_variable(("router", "thresholds"))
    if var:
        click.echo(f"warning: ${var} is set and overrides the file: the new thresholds take "
                   f"effect only once it is unset (or set to the same value)", err=True)
