"""Which prompts the shipped model was trained on, so `routedeck eval` can say how much of a
file's figures are in-sample (a 2,000-row head of train.jsonl is not "other data").

The model directory holds a fingerprint per training prompt: the first 8 bytes of the
SHA-256 of its whitespace-collapsed, case-folded text, sorted and gzipped (about 120 KB for
15k prompts), written by training/train_router.py next to the weights.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable
from pathlib import Path

from app.core.routing import learned

FILE = "train_prompts.bin.gz"
WIDTH = 8  # bytes per fingerprint: collisions between 15k prompts are negligible


def fingerprint(prompt: str) -> bytes:
    norm = " ".join(prompt.split()).casefold()
    return hashlib.sha256(norm.encode("utf-8", "surrogatepass")).digest()[:WIDTH]


def write(path: Path, prompts: Iterable[str]) -> None:
    """The fingerprint file for these training prompts (deterministic bytes)."""
    data = b"".join(sorted({fingerprint(p) for p in prompts}))
    with path.open("wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                              compresslevel=9) as gz:
        gz.write(data)


def trained_on(model_dir: Path | None = None) -> frozenset[bytes] | None:
    """The shipped model's training fingerprints; None if the file is missing or damaged."""
    path = (model_dir or learned.MODEL_DIR) / FILE
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError):
        return None
    if len(raw) % WIDTH:
        return None
    return frozenset(raw[i:i + WIDTH] for i in range(0, len(raw), WIDTH))


def overlap(prompts: Iterable[str], model_dir: Path | None = None) -> tuple[int, int] | None:
    """(prompts the model was trained on, prompts given); None without the fingerprints."""
    seen = trained_on(model_dir)
    if seen is None:
        return None
    total = hits = 0
    for p in prompts:
        total += 1
        hits += fingerprint(p) in seen
    return hits, total
