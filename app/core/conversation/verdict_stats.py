"""What the user's verdicts say: per-model satisfaction and the router scored on them.

The ledger details screen shows this as "your router on your traffic"; ``routedeck eval
--mine`` prints the same figures with the baselines next to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.config.settings import Settings
from app.core.ledger.reader import Ledger, Satisfaction
from app.core.ledger.store import Store


@dataclass(frozen=True)
class VerdictStats:
    labels: int = 0  # verdicts usable as labelled outcomes (prompt text stored)
    verdicts: int = 0  # every stored verdict
    satisfaction: list[Satisfaction] = field(default_factory=list)  # all sessions, per model
    session_satisfaction: dict[str, Satisfaction] = field(default_factory=dict)
    apgr: float | None = None
    cpt50: float | None = None
    cost98: float | None = None
    notes: tuple[str, ...] = ()


def verdict_stats(store: Store, settings: Settings, session_id: int | None = None) -> VerdictStats:
    """Satisfaction per model (all sessions, and ``session_id``'s) and the current router's
    APGR, CPT(50%) and cost at 98% quality on every stored verdict."""
    from app.core.evaluation import metrics
    from app.core.evaluation.labels import mine_outcomes

    ledger = Ledger(store)
    everywhere = ledger.satisfaction()
    session = ledger.satisfaction(session_id) if session_id is not None else {}
    verdicts = sum(s.verdicts for s in everywhere.values())
    if not verdicts:
        return VerdictStats()
    outcomes, scores, _ = mine_outcomes(store, settings)
    if not outcomes:
        return VerdictStats(0, verdicts, list(everywhere.values()), session,
                            notes=("no verdict has its prompt text stored (privacy mode)",))
    m = metrics.router_metrics(outcomes, scores)
    return VerdictStats(len(outcomes), verdicts, list(everywhere.values()), session,
                        m.apgr, m.cpt50, m.cost98, m.notes)
