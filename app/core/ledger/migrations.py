"""The database schema as an append-only list of migration steps, shared by both backends.

A database records how many steps it has had (SQLite: ``PRAGMA user_version``; PostgreSQL:
the ``routedeck_schema`` table). Opening a database runs
the missing steps in order inside one write transaction, so a crash mid-upgrade leaves the
old schema intact. Never edit or reorder a step that has shipped: a user's database may
already contain it. Change the schema by appending a new step.
"""

from __future__ import annotations

from app.core.ledger.base import StoreError

# Each step is a tuple of single SQL statements (not a script: executescript() would commit
# behind our back and break the all-or-nothing upgrade). They are written in SQLite's
# spelling; app.core.ledger.dialect rewrites the few words PostgreSQL spells differently.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: sessions, their messages (resumable chat history) and one row per model attempt.
    (
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            title TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            role TEXT NOT NULL,
            content TEXT,
            content_sha256 TEXT NOT NULL,
            request_id INTEGER,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX messages_session ON messages(session_id, id)",
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            session_id INTEGER,
            turn_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            tier TEXT NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            task_type TEXT NOT NULL DEFAULT '',
            score REAL,
            rule TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            forced INTEGER NOT NULL DEFAULT 0,
            pinned INTEGER NOT NULL DEFAULT 0,
            escalated INTEGER NOT NULL DEFAULT 0,
            escalation_reason TEXT NOT NULL DEFAULT '',
            fallback_from TEXT,
            cache_hit INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            error_kind TEXT,
            error_message TEXT NOT NULL DEFAULT '',
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_input_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            usage_source TEXT NOT NULL DEFAULT 'estimated',
            price_input_per_mtok REAL,
            price_output_per_mtok REAL,
            price_cached_input_per_mtok REAL,
            price_source TEXT,
            cost_usd REAL,
            premium_cost_usd REAL,
            latency_s REAL,
            ttft_s REAL,
            decision_us REAL,
            prompt TEXT,
            prompt_sha256 TEXT NOT NULL DEFAULT '',
            answer TEXT,
            answer_sha256 TEXT NOT NULL DEFAULT '',
            extra TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX requests_time ON requests(started_at)",
        "CREATE INDEX requests_session ON requests(session_id, started_at)",
    ),
    # 2: human verdicts on a pair of answers to the same prompt (compare view).
    (
        """CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            session_id INTEGER,
            answer_request_id INTEGER NOT NULL REFERENCES requests(id),
            compared_request_id INTEGER NOT NULL REFERENCES requests(id),
            verdict TEXT NOT NULL
                CHECK (verdict IN ('cheap_enough', 'premium_better', 'tie')),
            kept_request_id INTEGER REFERENCES requests(id)
        )""",
        "CREATE INDEX verdicts_time ON verdicts(created_at)",
        "CREATE INDEX verdicts_session ON verdicts(session_id)",
    ),
    # 3: per-turn aggregates (savings count the counterfactual once per turn) group by
    # turn_id; this index lets them do so without a sort over the whole table.
    ("CREATE INDEX requests_turn ON requests(turn_id, attempt)",),
    # 4: pairs of answers to one prompt from two tiers, awaiting (or given) a verdict:
    # written by `routedeck compare` and the console's escalate key, read by `review`.
    (
        """CREATE TABLE compare_pairs (
            id INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            session_id INTEGER,
            source TEXT NOT NULL DEFAULT 'compare',
            prompt TEXT,
            prompt_sha256 TEXT NOT NULL DEFAULT '',
            answer_request_id INTEGER NOT NULL REFERENCES requests(id),
            compared_request_id INTEGER NOT NULL REFERENCES requests(id)
        )""",
        "CREATE INDEX compare_pairs_session ON compare_pairs(session_id, id)",
        "CREATE INDEX verdicts_pair ON verdicts(answer_request_id, compared_request_id)",
    ),
    # 5: many people and machines write one ledger (PostgreSQL, or `store copy` into it).
    # uid is a row's identity in every database (ids differ between them), so copying a
    # ledger twice skips what is already there; user_name/host_name say who wrote a row and
    # on which machine. Rows from before this step get a random uid once, here.
    (
        "ALTER TABLE sessions ADD COLUMN uid TEXT",
        "ALTER TABLE messages ADD COLUMN uid TEXT",
        "ALTER TABLE requests ADD COLUMN uid TEXT",
        "ALTER TABLE verdicts ADD COLUMN uid TEXT",
        "ALTER TABLE compare_pairs ADD COLUMN uid TEXT",
        "ALTER TABLE sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE sessions ADD COLUMN host_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE requests ADD COLUMN user_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE requests ADD COLUMN host_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE verdicts ADD COLUMN user_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE verdicts ADD COLUMN host_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE compare_pairs ADD COLUMN user_name TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE compare_pairs ADD COLUMN host_name TEXT NOT NULL DEFAULT ''",
        "UPDATE sessions SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX sessions_uid ON sessions(uid)",
        "UPDATE messages SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX messages_uid ON messages(uid)",
        "UPDATE requests SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX requests_uid ON requests(uid)",
        "UPDATE verdicts SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX verdicts_uid ON verdicts(uid)",
        "UPDATE compare_pairs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "CREATE UNIQUE INDEX compare_pairs_uid ON compare_pairs(uid)",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)


def check_version(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this RouteDeck "
            f"understands ({SCHEMA_VERSION}); upgrade RouteDeck"
        )
