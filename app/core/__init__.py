"""RouteDeck's core: everything a user can script, with no UI (see docs/ARCHITECTURE.md).

Rooms, each importing only the ones after it in this list:

* ``conversation`` — a console session: Turn records, session state, escalation, verdicts
* ``calling`` / ``evaluation`` — one turn as events (providers, retries, fallback, cascade,
  cache, tokens) / routing quality on labelled outcomes, calibration
* ``routing`` — classify a prompt and decide its tier (features, learned model, policy)
* ``ledger`` — prices, the one cost function, the store, the ledger's read side, money text
* ``config`` — settings from defaults, TOML, environment and flags; errors with key and fix

The public names below are importable from ``app.core`` directly; each is loaded on first
use, so ``import app.core`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC: dict[str, str] = {
    "Settings": "app.core.config.settings",
    "load_settings": "app.core.config.loader",
    "ConfigError": "app.core.config.errors",
    "classify": "app.core.routing.classify",
    "route": "app.core.routing.policy",
    "decide": "app.core.routing.policy",
    "SessionState": "app.core.routing.policy",
    "RouteDecision": "app.core.routing.types",
    "Classification": "app.core.routing.types",
    "Signal": "app.core.routing.types",
    "Engine": "app.core.calling.engine",
    "Answer": "app.core.calling.events",
    "TurnFinished": "app.core.calling.events",
    "Ledger": "app.core.ledger.reader",
    "Store": "app.core.ledger.store",
    "open_store": "app.core.ledger.store",
    "attempt_cost": "app.core.ledger.costs",
    "format_usd": "app.core.ledger.money",
    "price_for": "app.core.ledger.pricing",
    "ConsoleSession": "app.core.conversation.session",
    "Conversation": "app.core.conversation.turn",
    "Turn": "app.core.conversation.turn",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'app.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
