"""The shipped out-of-fold calibration sample: labelled outcomes with the scores the shipped
model gave them while they were held out, so `routedeck calibrate` works before any verdicts."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from app.core.evaluation.metrics import Outcome
from app.core.routing import learned


def sample_outcomes(payload: dict[str, Any]) -> tuple[list[Outcome], list[float]]:
    """(outcomes, scores) of a calibration-sample payload (format: see
    training/train_router.py, ``calibration_payload``)."""
    if payload.get("format") != "routedeck-calibration-sample":
        raise ValueError("not a RouteDeck calibration sample")
    groups = payload["groups"]
    outcomes = [Outcome(float(c), float(p), float(cc), float(pc), groups[g])
                for _, c, p, cc, pc, g in payload["rows"]]
    return outcomes, [float(row[0]) for row in payload["rows"]]


def calibration_sample(model_dir: Path | None = None
                       ) -> tuple[list[Outcome], list[float]] | None:
    """Out-of-fold (outcomes, scores) of every training row, on the scale of ``scorer()``
    (calibrated, guards applied); None if the file is missing, unreadable or was made for
    other weights than the shipped ones. Read from disk on each call: only calibration needs
    it, never the routing path."""
    model_dir = model_dir or learned.MODEL_DIR
    try:
        payload = json.loads(gzip.decompress((model_dir / learned.CALIBRATION_FILE).read_bytes()))
        weights = (model_dir / learned.MODEL_FILE).read_bytes()
        if payload.get("model_sha256") != hashlib.sha256(weights).hexdigest():
            return None
        return sample_outcomes(payload)
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError):
        return None
