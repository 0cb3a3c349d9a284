"""The locked split of train.jsonl: rows that no modelling choice ever sees.

20% of the unique prompts of every source/dataset, picked by a salted hash of the normalised
prompt text, so the split does not depend on row order and equal prompts (after normalising)
always land on the same side, even across datasets (MBPP and GSM8K appear in two sources).
Features, hyper-parameters, lexicons and policy lifts are chosen by cross-validation on the
other 80% ("dev"); the locked rows are scored once per candidate that could ship, and both
figures are reported side by side.
"""

from __future__ import annotations

import hashlib
import re

LOCKED_SHARE = 0.2
SALT = "routedeck-locked-v1"


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _key(prompt: str) -> str:
    return hashlib.sha256(f"{SALT}\n{normalise(prompt)}".encode()).hexdigest()


def group_of(r: dict) -> str:
    return f"{r.get('source') or '?'}/{r.get('dataset') or '?'}"


def locked_mask(rows: list[dict]) -> list[bool]:
    """True for locked rows. Within each dataset the unique prompts are ordered by their hash
    and the first LOCKED_SHARE of them are locked (stratified by dataset); a prompt locked in
    any dataset is locked everywhere."""
    by_group: dict[str, set[str]] = {}
    keys = [_key(r["prompt"]) for r in rows]
    for r, k in zip(rows, keys, strict=True):
        by_group.setdefault(group_of(r), set()).add(k)
    locked: set[str] = set()
    for g in sorted(by_group):
        ordered = sorted(by_group[g])
        locked.update(ordered[: round(LOCKED_SHARE * len(ordered))])
    return [k in locked for k in keys]
