"""Small test doubles and ledger readers shared by engine, CLI and reliability tests."""

from __future__ import annotations


class ListRecorder:
    """Test double for the ledger store: keeps every AttemptRecord in a list."""

    def __init__(self) -> None:
        self.rows = []

    def record_attempt(self, rec) -> int:
        self.rows.append(rec)
        return len(self.rows)


def open_test_store(**settings):
    """The store the environment's settings name: the SQLite file under the test's
    ROUTEDECK_HOME, or the PostgreSQL database of ROUTEDECK_STORE__URL (``backend`` fixture)."""
    from app.core.config.settings import Settings
    from app.core.ledger.store import open_store

    return open_store(Settings(**settings))


def ledger_rows() -> list[dict]:
    """Every request row of the test's store (see :func:`open_test_store`), oldest first."""
    store = open_test_store()
    try:
        return store.requests()
    finally:
        store.close()
