"""``routedeck train``: rebuild the learned router's weights and training report from the data.

Runs ``training/train_router.py`` from a source checkout (it needs NumPy, a dev dependency,
and the training data; neither ships with the app).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

SCRIPT = Path(__file__).resolve().parents[2] / "training" / "train_router.py"


def _load_trainer():
    if not SCRIPT.is_file():
        click.echo(f"training script not found at {SCRIPT}: `routedeck train` works from a "
                   "source checkout of RouteDeck", err=True)
        sys.exit(1)
    try:
        import numpy  # noqa: F401 - only checking it is there
    except ImportError:
        click.echo("training needs NumPy: pip install numpy (or the [dev] extra)", err=True)
        sys.exit(1)
    spec = importlib.util.spec_from_file_location("routedeck_train_router", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@click.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Training JSONL (default: ../shared/data/routing/train.jsonl).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (default: app/core/routing/model, the shipped weights).")
@click.option("--seed", type=int, default=0, show_default=True, help="Fold-assignment seed.")
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds.")
def train(data: Path | None, out: Path | None, seed: int, folds: int) -> None:
    """Train the learned router (deterministic: same data and seed give the same bytes)."""
    trainer = _load_trainer()
    data = data or trainer.DEFAULT_DATA
    if not data.is_file():
        click.echo(f"training data not found: {data} (pass --data)", err=True)
        sys.exit(1)
    if trainer.FORBIDDEN in data.name:
        click.echo(f"refusing to train on {data.name}: it is evaluation-only data", err=True)
        sys.exit(2)
    trainer.train(data, out or trainer.DEFAULT_OUT, seed=seed, folds=folds,
                  log=lambda msg: click.echo(msg, err=True))
