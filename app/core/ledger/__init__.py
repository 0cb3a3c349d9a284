"""Ledger: what calls cost and what they would have cost.

Owns prices (config overrides, then genai-prices), the one cost function used when an attempt
is recorded, the store (SQLite sessions, messages, one row per attempt, verdicts, compare
pairs; append-only migrations), the read side that folds totals from the store, and the one
money formatter. Imports only ``config``.
"""
