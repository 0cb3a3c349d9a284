"""Conversation: a console session without a UI.

Owns the Turn records of a session (the history sent with each prompt is derived from them),
the session state changes, the services a session runs on (store, cache, engine), the
ledger panel's view, escalation with verdicts, stored sessions, and ``routedeck compare``.
Every face's session events come from here or from the engine.
"""
