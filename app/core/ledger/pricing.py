"""Prices per model: config overrides first, then genai-prices' bundled snapshot.

An unknown price is ``None`` — callers show it as ``?`` and never count it as $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from app.core.config.settings import ProviderConfig, TierConfig


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float
    source: str  # "config" or "genai-prices <provider>/<model>"

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """USD for one call; cached input at its rate. ``output_tokens`` already includes any
        reasoning tokens (OpenAI semantics), so reasoning is never billed twice."""
        cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
        fresh = max(input_tokens, 0) - cached
        return (fresh * self.input_per_mtok + cached * self.cached_input_per_mtok
                + max(output_tokens, 0) * self.output_per_mtok) / 1_000_000


def _as_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        # Tiered prices: the base tier is what a normal-size prompt pays.
        base = getattr(value, "base", None)
        return float(base) if base is not None else None


def _price_cache_file():  # -> Path
    from app.core.config import paths

    return paths.cache_dir() / "prices.json"


def _snapshot_version() -> str:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("genai-prices")
    except PackageNotFoundError:
        return "unknown"
    # The Version header read directly: Distribution.version runs the whole metadata file
    # through the email parser, a millisecond of every process's first price lookup.
    for line in (dist.read_text("METADATA") or "").splitlines():
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
        if not line:
            break  # the headers end at the first blank line
    return dist.version


def snapshot_label() -> str:
    """Which price list a price not set in the config comes from, for reports."""
    return f"genai-prices {_snapshot_version()} (bundled snapshot)"


@lru_cache(maxsize=1)
def _disk_cache() -> dict:
    """Lookups remembered per genai-prices version: importing its snapshot costs ~200 ms,
    which `routedeck route` and console start-up should not pay on every run."""
    import json

    try:
        data = json.loads(_price_cache_file().read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or data.get("version") != _snapshot_version():
        data = {"version": _snapshot_version(), "entries": {}}
    return data


def _remember(key: str, price: Price | None) -> None:
    import json
    import os

    data = _disk_cache()
    data["entries"][key] = None if price is None else [
        price.input_per_mtok, price.output_per_mtok, price.cached_input_per_mtok, price.source]
    path = _price_cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache dir only costs speed


@lru_cache(maxsize=256)
def _lookup(model: str, base_url: str | None) -> Price | None:
    key = f"{model}|{base_url or ''}"
    entries = _disk_cache()["entries"]
    if key in entries:
        hit = entries[key]
        return None if hit is None else Price(*hit)
    price = _lookup_snapshot(model, base_url)
    _remember(key, price)
    return price


def _lookup_snapshot(model: str, base_url: str | None) -> Price | None:
    from genai_prices import Usage, calc_price

    for kwargs in ({"provider_api_url": base_url} if base_url else {}, {}):
        try:
            calc = calc_price(Usage(input_tokens=1, output_tokens=1), model, **kwargs)
        except LookupError:
            continue
        mp = calc.model_price
        inp, out = _as_float(mp.input_mtok), _as_float(mp.output_mtok)
        if inp is None or out is None:
            return None
        cached = _as_float(mp.cache_read_mtok)
        return Price(inp, out, inp if cached is None else cached,
                     f"genai-prices {calc.provider.id}/{calc.model.id}")
    return None


def price_for(tier: TierConfig, provider: ProviderConfig | None = None) -> Price | None:
    """The price in force now for a tier's model; config overrides win."""
    if tier.input_per_mtok is not None and tier.output_per_mtok is not None:
        cached = tier.cached_input_per_mtok
        return Price(tier.input_per_mtok, tier.output_per_mtok,
                     tier.input_per_mtok if cached is None else cached, "config")
    # The shown form: the lookup key is cached on disk, and a base_url may hold a password.
    found = _lookup(tier.model, provider.shown_url if provider else None)
    if found is None:
        return None
    if tier.input_per_mtok is not None or tier.output_per_mtok is not None:
        return Price(
            tier.input_per_mtok if tier.input_per_mtok is not None else found.input_per_mtok,
            tier.output_per_mtok if tier.output_per_mtok is not None else found.output_per_mtok,
            found.cached_input_per_mtok,
            f"config + {found.source}",
        )
    return found
