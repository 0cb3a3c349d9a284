"""``routedeck eval FILE``: routing quality of the current classifier on labelled outcomes.

FILE is JSON Lines like ``../shared/data/routing/*.jsonl``: prompt, cheap_score, premium_score
and optional costs/prices. Figures per source/dataset and overall, next to the baselines.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from app.commands.common import config_file_of, load_or_exit, warn_bad
from app.core.evaluation.metrics import ILL_CONDITIONED_GAP
from app.core.rows import BadRow, read_rows

ROUTERS = ("router", "with-memory", "score-only", "random", "always-cheap", "always-premium",
           "oracle")
_LABELS = {"with-memory": "+ your verdicts", "score-only": "score alone"}
_MAX_SKIP_MESSAGES = 20


def _fmt(v: float | None, dash: bool = False) -> str:
    if v is None:
        return "—" if dash else "n.a."
    return f"{v:.3f}"


def _model_meta() -> dict[str, Any]:
    from app.core.routing import learned

    m = learned.model()
    return m.meta if m is not None else {}


def training_report() -> dict[str, Any] | None:
    from app.core.routing import learned

    try:
        return json.loads((learned.MODEL_DIR / "training_report.json").read_text())
    except (OSError, ValueError):
        return None


def _provenance(file: Path, used: str) -> tuple[bool, str]:
    """(in-sample?, sentence): how much of FILE the shipped model was fitted on, by prompt
    (not by file name or digest: a head or a shuffle of the training data is still it)."""
    if used != "learned":
        return False, "rule-based v1 (hand-set weights, nothing fitted): figures are not in-sample"
    from app.core.evaluation.overlap import overlap

    seen = overlap(r.prompt for r in read_rows(file) if not isinstance(r, BadRow))
    if seen is None:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest == _model_meta().get("data_sha256"):
            return True, ("IN-SAMPLE: FILE is the learned model's own training data, so these "
                          "figures flatter it; the honest (cross-validated) figures are under --cv")
        return False, ("learned model scored on a file other than its training data (no "
                       "training fingerprints to check its prompts against)")
    hits, total = seen
    if not hits:
        return False, (f"none of the file's {total} readable prompts (scored or not) is one "
                       "the learned model was trained on")
    share = hits / total if total else 0.0
    return share >= 0.5, (
        f"{'IN-SAMPLE: ' if share >= 0.5 else ''}{hits} of the file's {total} readable prompts "
        f"({share:.0%}) are "
        "ones the learned model was trained on, so these figures flatter it; the honest "
        "(cross-validated) figures are under --cv")


def _block(group: str, n: int, metrics: dict[str, Any], router_name: str) -> list[str]:
    lines = [f"{group}  (n={n})",
             f"  {'router':<16}{'APGR':>8}{'CPT(50%)':>10}{'CPT(80%)':>10}{'cost@98%':>10}"]
    for name in ROUTERS:
        m = metrics.get(name)
        if m is None:
            continue
        fixed = name.startswith("always")
        label = router_name if name == "router" else _LABELS.get(name, name)
        cost = _fmt(m.cost98) if m.cost98 is not None else "never"
        lines.append(f"  {label:<16}{_fmt(m.apgr, fixed):>8}{_fmt(m.cpt50, fixed):>10}"
                     f"{_fmt(m.cpt80, fixed):>10}{cost:>10}")
    for note in metrics["router"].notes:
        lines.append(f"  note: {note}")
    return lines


def _cv_lines(report: dict[str, Any] | None) -> list[str]:
    if not report or "cv" not in report:
        return ["no training report with cross-validated figures next to the model"]
    locked = report.get("locked") or {}
    lines = [f"CROSS-VALIDATED ({report['folds']}-fold on the dev rows, out-of-fold scores) and "
             f"LOCKED split ({report.get('locked_rows', 0)} rows no choice saw); from the "
             f"training report of {report['data']}, seed {report['seed']}",
             f"  {'dataset':<34}{'n':>6}{'CV APGR':>9}{'locked':>8}{'random':>8}{'oracle':>8}"
             f"{'CPT(50%)':>10}{'cost@98%':>10}{'locked':>8}{'gap':>7}"]
    flagged = False
    for g in sorted(report["cv"], key=group_order):
        m = report["cv"][g]
        r = m["router"]
        lk = (locked.get(g) or {}).get("router") or {}
        gap = (r.get("quality_premium") or 0.0) - (r.get("quality_cheap") or 0.0)
        mark = "*" if "quality_premium" in r and abs(gap) < ILL_CONDITIONED_GAP else ""
        flagged = flagged or bool(mark)
        lines.append(f"  {g:<34}{r['n']:>6}{_fmt(r['apgr']):>9}{_fmt(lk.get('apgr')):>8}"
                     f"{_fmt(m['random']['apgr']):>8}{_fmt(m['oracle']['apgr']):>8}"
                     f"{_fmt(r['cpt50']):>10}{_fmt(r['cost98']):>10}{_fmt(lk.get('cost98')):>8}"
                     f"{gap:>+7.3f}{mark}")
    lines.append("  gap = premium-only minus cheap-only quality; <source>/* = that source's "
                 "datasets pooled")
    if flagged:
        lines.append(f"  * gap under {ILL_CONDITIONED_GAP}: PGR divides by it, so APGR there is "
                     "ill-conditioned (even the oracle's can be negative)")
    return lines


def group_order(g: str) -> tuple[int, str]:
    """Datasets first, then per-source pools, then overall."""
    return (2 if g == "overall" else 1 if g.endswith("/*") else 0, g)


def _plot(path: Path, outcomes_by_group: dict[str, tuple[list, list[float]]], name: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        click.echo("--plot needs matplotlib, which is not installed: "
                   "pip install 'routedeck[plot]'", err=True)
        sys.exit(1)
    from app.core.evaluation import metrics

    groups = list(outcomes_by_group)
    cols = min(4, len(groups))
    rows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    for ax, g in zip(axes.flat, groups, strict=False):
        outcomes, scores = outcomes_by_group[g]
        curves = {name: metrics.curve(outcomes, scores),
                  "oracle": metrics.curve(outcomes, [o.gain for o in outcomes])}
        for label, cv in curves.items():
            if cv.pgr is not None:
                ax.plot(cv.fractions, cv.pgr, label=label)
        ax.plot([0, 1], [0, 1], "--", color="grey", label="random")
        ax.scatter([0, 1], [0, 1], color="black", zorder=3, label="always-cheap / -premium")
        ax.set_title(f"{g} (n={len(outcomes)})", fontsize=9)
        ax.set_xlabel("premium-call fraction")
        ax.set_ylabel("PGR")
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    click.echo(f"plot written to {path}", err=True)


def _load(file: Path, settings: Any):  # -> tuple
    """Score every labelled row of FILE as ``route`` does (the score it reports, task policy
    included, and the classifier's own score before the policy); bad rows are reported with
    their line and skipped."""
    from app.core.evaluation import metrics
    from app.core.routing.policy import route

    outcomes: list[metrics.Outcome] = []
    scores: list[float] = []
    alone: list[float] = []
    cost_sources: Counter[str] = Counter()
    used: Counter[str] = Counter()
    skipped = 0
    for row in read_rows(file):
        if isinstance(row, BadRow):
            skipped += 1
            warn_bad(row, file)
            continue
        o = metrics.outcome_from_row(row.data, row.prompt)
        if o is None:
            skipped += 1
            if skipped <= _MAX_SKIP_MESSAGES:
                click.echo(f"{file}:{row.line}: skipped: no numeric cheap_score/premium_score",
                           err=True)
            continue
        d = route(row.prompt, settings)
        used[d.strategy] += 1
        outcomes.append(o)
        scores.append(d.score)
        alone.append(d.model_score if d.model_score is not None else d.score)
        cost_sources[metrics.row_costs(row.data, row.prompt)[2]] += 1
    if skipped > _MAX_SKIP_MESSAGES:
        click.echo(f"... {skipped} rows skipped in all", err=True)
    return outcomes, scores, alone, cost_sources, used, skipped


def load_outcomes(file: Path, settings: Any):  # -> tuple[list[Outcome], list[float]]
    """(outcomes, scores) of FILE for fitting a threshold (`routedeck calibrate --data`):
    the threshold-free form of route's scores (policy.policy_score with bands), under the
    user's own policy settings."""
    from app.core.evaluation import metrics
    from app.core.evaluation.labels import route_score

    outcomes, scores = [], []
    for row in read_rows(file):
        if isinstance(row, BadRow):
            continue
        o = metrics.outcome_from_row(row.data, row.prompt)
        if o is not None:
            outcomes.append(o)
            scores.append(route_score(row.prompt, settings, bands=True))
    return outcomes, scores


def _load_mine(settings: Any):  # -> tuple
    """The user's stored verdicts as labelled outcomes: scores before (the router alone) and
    after the verdict memory (each verdict left out of the memory that scores it)."""
    from app.core.evaluation import metrics
    from app.core.evaluation.labels import memory_scores, mine_outcomes
    from app.core.ledger.store import StoreError, open_store

    try:
        with open_store(settings) as store:
            outcomes, scores, rows = mine_outcomes(store, settings, bands=False)
    except StoreError as exc:
        click.echo(f"cannot open the ledger: {exc}", err=True)
        sys.exit(1)
    if not outcomes:
        click.echo("no verdicts stored yet: judge answers with the escalate key (ctrl+e) in the "
                   "console, or `routedeck compare FILE` then `routedeck review`.", err=True)
        sys.exit(1)
    cost_sources = Counter(metrics.row_costs(r, r["prompt"])[2] for r in rows)
    after = memory_scores(rows, settings)
    return (outcomes, scores, after, cost_sources,
            Counter({settings.router.strategy: len(outcomes)}), 0)


@click.command("eval")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mine", is_flag=True,
              help="Score the router on your own verdicts (stored by the compare view) instead of FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the call-performance curves to this PNG (needs matplotlib: [plot] extra).")
@click.option("--strategy", type=click.Choice(["learned", "rules"]), help="Override [router] strategy.")
@click.option("--cv", "show_cv", is_flag=True,
              help="Also show the cross-validated figures from the model's training report.")
@click.pass_context
def eval_cmd(ctx: click.Context, file: Path | None, mine: bool, as_json: bool,
             plot_file: Path | None, strategy: str | None, show_cv: bool) -> None:
    """Measure routing quality on FILE (JSONL with prompt, cheap_score, premium_score).

    Prints APGR, CPT(50%), CPT(80%) and cost at 98% of premium-only quality per
    source/dataset and overall, next to random, always-cheap, always-premium and the oracle.
    """
    overrides = {"router": {"strategy": strategy}} if strategy else None
    settings = load_or_exit(config_file_of(ctx), overrides)
    from app.core.evaluation import metrics

    if plot_file is not None and importlib.util.find_spec("matplotlib") is None:
        # Said before any work: the figures would be computed only to end in an error.
        click.echo("--plot needs matplotlib, which is not installed: "
                   "pip install 'routedeck[plot]'", err=True)
        sys.exit(1)
    if (file is None) == (not mine):
        raise click.UsageError("give a FILE of labelled prompts, or --mine for your own verdicts")
    if mine:
        outcomes, scores, second, cost_sources, used, skipped = _load_mine(settings)
    else:
        outcomes, scores, second, cost_sources, used, skipped = _load(file, settings)
    if not outcomes:
        click.echo(f"{file}: no labelled rows to evaluate", err=True)
        sys.exit(1)

    strategy_used = used.most_common(1)[0][0]
    if mine:
        in_sample, provenance = False, (
            f"your {len(outcomes)} verdict(s) from the ledger; a handful of labels gives a rough "
            "figure, dozens give a useful one")
    else:
        in_sample, provenance = _provenance(file, strategy_used)
    table = metrics.by_group(outcomes, scores)
    # Next to the router: without FILE, the classifier's own score (what the task policy
    # costs or gains); with --mine, the router with the memory of the other verdicts.
    second_name = "with-memory" if mine else "score-only"
    for g, m in metrics.by_group(outcomes, second).items():
        table[g][second_name] = m["router"]
    report = training_report() if show_cv else None

    if as_json:
        out: dict[str, Any] = {
            "file": str(file) if file else "mine", "strategy": strategy_used, "in_sample": in_sample,
            "provenance": provenance, "rows": len(outcomes), "skipped": skipped,
            "cost_sources": dict(cost_sources),
            "groups": {g: {k: m.to_dict() for k, m in v.items()} for g, v in table.items()},
        }
        if show_cv:
            out["cross_validated"] = report.get("cv") if report else None
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        name = f"{strategy_used} (this)"
        if mine:
            click.echo("'+ your verdicts' = the same router with a memory of your other "
                       "verdicts (each verdict left out of the memory that scores it), i.e. "
                       "what routing does after you judged the rest (the 'score alone' "
                       "comparison is shown when you evaluate a FILE of outcomes instead).")
        else:
            click.echo("'score alone' = the classifier's score before the task policy (task "
                       "minimum tiers, demand lifts, short routine requests): the router row "
                       "minus this one is what the policy costs or gains.")
        click.echo(f"{len(outcomes)} labelled prompts from {file or 'your verdicts'}"
                   + (f", {skipped} skipped" if skipped else ""))
        click.echo(f"strategy: {strategy_used}. {provenance}.")
        click.echo("costs from: " + ", ".join(f"{k} ({v})" for k, v in cost_sources.most_common())
                   + "; '—' = a fixed router has one operating point, so no curve;"
                   " 'never' = cannot reach 98% of premium-only quality.\n")
        shown = sorted(table, key=group_order)
        if len(shown) == 2 and table[shown[0]]["router"].n == table["overall"]["router"].n:
            # One dataset: "overall" would print the same table again under another name.
            shown = shown[:1]
        for g in shown:
            group_metrics = table[g]
            click.echo("\n".join(_block(g, group_metrics["router"].n, group_metrics, name)) + "\n")
        if len(shown) == 1 and len(table) == 2:
            click.echo("(one dataset: its figures are the overall ones)\n")
        if show_cv:
            click.echo("\n".join(_cv_lines(report)))
    if plot_file is not None:
        groups: dict[str, tuple[list, list[float]]] = {}
        for o, s in zip(outcomes, scores, strict=True):
            groups.setdefault(o.group, ([], []))
            groups[o.group][0].append(o)
            groups[o.group][1].append(s)
        groups["overall"] = (outcomes, scores)
        _plot(plot_file, groups, strategy_used)
