"""Small test doubles and ledger readers shared by engine, CLI and reliability tests."""

from __future__ import annotations


class ListRecorder:
    """Test double for the ledger store: keeps every AttemptRecord in a list."""

    def __init__(self) -> None:
        self.rows = []

    def record_attempt(self, rec) -> int:
        self.rows.append(rec)
        return len(self.rows)


def ledger_rows() -> list[dict]:
    """Every request row of the store under the test's ROUTEDECK_HOME, oldest first."""
    from app.core.ledger.store import open_store

    store = open_store()
    try:
        return store.requests()
    finally:
        store.close()
