"""Routing: a prompt -> task type, score (P(premium answers better)), signals -> a tier.

Owns the classifier (features, the learned model and its shipped weights, the v1 rules) and
the policy that turns a score into a decision (thresholds, task minimums, keywords, budgets,
pins, stickiness), with the reason in words. Pure and local: no network, no LLM call, well
under a millisecond: a prompt's words are looked up once, in one merged index of every
table (lookup.py, vocab.py). Imports only ``ledger`` (prices, budgets) and ``config``.
"""

from app.core.routing import compiled as _compiled

# Before any other module of the package is imported: a stale compiled build never shadows
# its edited source (see compiled.py).
_compiled.install()
