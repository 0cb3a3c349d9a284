"""Calling: one turn end to end as typed events.

Owns the OpenAI-compatible providers (one AsyncOpenAI per provider, streaming, timeouts,
errors in words), the engine (route, cache, attempts, retries, fallback, cascade, record),
the response cache and token counting. The engine reads the session's state and reports
changes as events; it records every attempt through a Recorder and never formats money.
"""
