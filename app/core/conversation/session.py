"""One console session, without any UI: conversation, session state, engine and store wiring.

The Textual console and its tests drive this object; it never imports Textual. It owns what
the user decided for the session (pin, force-next), the conversation history sent with each
turn, and a running tally of what the session cost, built from the engine's TurnFinished
events (the ledger module, when present, is the source for resumed sessions).

Heavy modules (the engine pulls in openai, the router pulls in tiktoken and genai-prices) are
imported on first use, never at import time, so the console's first frame does not wait.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.calling.events import Event, RouteDecided, TurnFinished
from app.core.config.settings import Settings
from app.core.conversation import escalation
from app.core.conversation.escalation import Answered, EscalationRefused, Judged, Pending, Plan

AUTO = None  # pin value meaning "let the router decide"

OFFLINE_HELP = (
    "No model was called: no provider credentials are configured. Set the environment variable "
    "named by api_key_env (e.g. export {env}=...) or point a tier at a keyless local server "
    "(Ollama, llama.cpp, vLLM) with api_key_env = \"\" in the config."
)


class SessionError(Exception):
    """A user-facing problem opening or resuming a session (unknown id, unknown tier)."""


@dataclass
class TurnTally:
    """What one finished turn contributed to the session's ledger."""

    tier: str
    model: str
    status: str
    cost_usd: float | None
    premium_cost_usd: float | None
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    fallback: bool = False
    escalated: bool = False
    estimated: bool = False

    @classmethod
    def of(cls, ev: TurnFinished) -> TurnTally:
        usage = ev.usage
        return cls(
            tier=ev.tier, model=ev.model, status=ev.status, cost_usd=ev.cost_usd,
            premium_cost_usd=ev.premium_cost_usd,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cached=ev.cached, fallback=ev.fallback_from is not None,
            escalated=ev.escalated_from is not None,
            estimated=bool(usage and usage.source == "estimated"),
        )


@dataclass
class ModelRow:
    model: str
    tier: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0


@dataclass
class LedgerView:
    """Everything the ledger panel and its details screen show, already computed."""

    spent_usd: float = 0.0
    unpriced_calls: int = 0
    premium_usd: float = 0.0
    calls_by_tier: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    escalations: int = 0
    cache_hits: int = 0
    turns: int = 0
    budget_cap_usd: float | None = None
    budget_act_fraction: float = 0.9
    series: list[tuple[float, float]] = field(default_factory=list)  # cumulative (actual, premium)
    models: list[ModelRow] = field(default_factory=list)
    alarm: str = ""

    savings_known: float | None = None  # from the ledger: over fully priced turns only
    savings_pct_known: float | None = None

    @property
    def savings_usd(self) -> float | None:
        if self.savings_known is not None or self.unpriced_calls:
            return self.savings_known
        return self.premium_usd - self.spent_usd if self.turns else None

    @property
    def savings_pct(self) -> float | None:
        if self.savings_known is not None or self.unpriced_calls:
            return self.savings_pct_known
        saved = self.savings_usd
        return None if saved is None or self.premium_usd <= 0 else 100.0 * saved / self.premium_usd


def _answered(t: TurnTally) -> bool:
    return t.status in ("ok", "truncated", "error", "cancelled") and bool(t.model)


class ConsoleSession:
    """Conversation + session state + engine/store wiring for one console session."""

    def __init__(
        self,
        settings: Settings,
        *,
        pin_tier: str | None = None,
        engine_factory: Callable[..., Any] | None = None,
        store: Any | None = None,
        use_store: bool = True,
    ) -> None:
        from app.core.routing.policy import (
            SessionState,  # light: no tiktoken/genai-prices at import
        )

        self.settings = settings
        self.tier_names = [t.name for t in settings.tiers]
        if pin_tier is not None and pin_tier not in self.tier_names:
            raise SessionError(
                f"unknown tier '{pin_tier}' for --tier; configured tiers: {', '.join(self.tier_names)}"
            )
        self.state = SessionState(pinned_tier=pin_tier)
        self.history: list[dict[str, str]] = []
        self.turns: list[Answered] = []  # one per answered turn, aligned with history pairs
        self.pending: Pending | None = None  # an escalation awaiting a verdict
        self.session_id: int | None = None
        self.tallies: list[TurnTally] = []
        self._engine_factory = engine_factory
        self._engine: Any | None = None
        self._engine_lock = threading.Lock()
        self._store = store
        self._use_store = use_store
        self.offline_notice_shown = False
        self.store_problem = ""

    # --- session lifecycle ----------------------------------------------------------------
    @property
    def offline(self) -> bool:
        return not self.settings.has_credentials()

    def offline_help(self) -> str:
        envs = [self.settings.provider_for(t).api_key_env for t in self.settings.tiers]
        env = next((e for e in envs if e), "OPENAI_API_KEY")
        return OFFLINE_HELP.format(env=env)

    def store(self) -> Any | None:
        """The SQLite store, opened on first use; None if it cannot be opened (the console
        then keeps an in-memory tally, and ``store_problem`` says why)."""
        if self._store is None and self._use_store:
            try:
                mod = importlib.import_module("app.core.ledger.store")
                self._store = mod.open_store(self.settings)
            except (ImportError, OSError, RuntimeError) as exc:
                self._use_store = False
                self.store_problem = f"history and ledger are not saved: {exc}"
                return None
        return self._store

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None and hasattr(store, "close"):
            store.close()
        self._use_store = False

    def open(self, session_id: int | None = None) -> None:
        """Start a new session, or resume ``session_id`` (SessionError if it is unknown)."""
        if session_id is None:
            self.new_session()
        else:
            self.resume(session_id)

    def new_session(self) -> int | None:
        store = self.store()
        self.session_id = store.new_session() if store is not None else None
        self.history = []
        self.turns = []
        self.pending = None
        self.tallies = []
        self._engine = None  # the engine is bound to a session id
        return self.session_id

    def resume(self, session_id: int) -> None:
        store = self.store()
        if store is None or store.session(session_id) is None:
            known = [str(s[0]) for s in self.list_sessions()[:10]]
            hint = f"recent sessions: {', '.join(known)}" if known else "no sessions stored yet"
            raise SessionError(f"unknown session {session_id} ({hint})")
        self.session_id = session_id
        self.history = [
            {"role": m["role"], "content": m["content"]} for m in store.messages(session_id)
        ]
        self.turns = escalation.stored_turns(store, session_id)
        self.pending = None
        self.tallies = []
        self._engine = None

    def list_sessions(self, limit: int = 50) -> list[tuple[int, str, int, str]]:
        """(id, last-active time, turns, spent text) of stored sessions, most recent first."""
        store = self.store()
        if store is None:
            return []
        from app.core.ledger.reader import money_text

        out = []
        for s in store.sessions(limit):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["last_at"] or s["created_at"]))
            out.append((int(s["id"]), when, int(s["turns"] or 0),
                        money_text(float(s["spent"] or 0.0), int(s["unpriced"] or 0))))
        return out

    # --- user decisions ------------------------------------------------------------------
    def cycle_pin(self) -> str | None:
        """auto -> cheapest -> ... -> premium -> auto; returns the new pin (None = auto).

        While the session sticks to a tier (a fallback, or a "premium was better" verdict)
        and nothing is pinned, the first press only ends the stickiness."""
        cur = self.state.pinned_tier
        if cur is AUTO and self.clear_sticky():
            return AUTO
        order: list[str | None] = [AUTO, *self.tier_names]
        self.state.pinned_tier = order[(order.index(cur) + 1) % len(order)] if cur in order else AUTO
        return self.state.pinned_tier

    def set_pin(self, tier: str | None) -> None:
        if tier is not None and tier not in self.tier_names:
            raise SessionError(f"unknown tier '{tier}'")
        self.state.pinned_tier = tier
        self.clear_sticky()

    def clear_sticky(self) -> str | None:
        """End "the session stays on tier X"; returns the tier it stuck to, if any."""
        tier = self.state.sticky_tier
        self.state.sticky_tier, self.state.sticky_reason = None, ""
        return tier

    def force_premium_next(self) -> str:
        self.state.force_next = self.tier_names[-1]
        return self.state.force_next

    # --- turns ---------------------------------------------------------------------------
    def _get_engine(self) -> Any | None:
        # warm_up() runs this in a thread while the first prompt may ask on the event loop:
        # the lock makes both get the same engine (and one response cache connection).
        with self._engine_lock:
            if self._engine is None:
                factory = self._engine_factory
                if factory is None:
                    try:
                        factory = importlib.import_module("app.core.calling.engine").Engine
                    except ImportError:
                        return None
                self._engine = factory(self.settings, recorder=self.store(),
                                       cache=self._cache(), session_id=self.session_id)
            return self._engine

    def _cache(self) -> Any | None:
        if not self.settings.cache.enabled:
            return None
        try:
            from app.core.calling.cache import ResponseCache
        except ImportError:
            return None
        try:
            return ResponseCache(self.settings.cache, store_prompts=self.settings.privacy.store_prompts)
        except (OSError, RuntimeError) as exc:
            self.store_problem = f"the response cache is off: {exc}"
            return None

    async def aclose(self) -> None:
        """Close the engine's HTTP clients and the store (when the console exits)."""
        engine, self._engine = self._engine, None
        if engine is not None and hasattr(engine, "aclose"):
            await engine.aclose()
        self.close()

    def warm_up(self) -> None:
        """Import the engine and load token/price tables now (call from a thread), so the
        first prompt does not pay for them on the UI's event loop."""
        from app.core.routing.policy import route

        self._get_engine()
        route("warm up", self.settings)

    async def run_turn(self, prompt: str, *, tier: str | None = None) -> AsyncIterator[Event]:
        """Yield the events of one turn; the session's state and tally follow them."""
        engine = self._get_engine()
        events = (
            engine.run_turn(prompt, list(self.history), state=self.state,
                            budget=self.budget_state(), tier=tier)
            if engine is not None
            else self._route_only(prompt)
        )
        forced = self.state.force_next
        try:
            # aclosing: a cancelled or abandoned turn lets the engine record it as cancelled
            # and close its HTTP stream right away, not whenever the generator is collected.
            async with contextlib.aclosing(events) as stream:
                async for ev in stream:
                    if isinstance(ev, TurnFinished):
                        self._finish(prompt, ev)
                    yield ev
        finally:
            if forced is not None and self.state.force_next == forced:
                self.state.force_next = None  # "force premium" is for one prompt only

    async def _route_only(self, prompt: str) -> AsyncIterator[Event]:
        """Without an engine in this build: route, then say plainly that nothing was sent."""
        from app.core.routing.policy import route

        d = route(prompt, self.settings, self.history, self.state, self.budget_state())
        yield RouteDecided(d)
        msg = self.offline_help() if self.offline else "This build has no engine; no model was called."
        yield TurnFinished(status="offline", text="", tier=d.tier, model=d.model, message=msg)

    def _finish(self, prompt: str, ev: TurnFinished) -> None:
        if ev.status in ("offline", "blocked"):
            return
        self.tallies.append(TurnTally.of(ev))
        if ev.status in ("ok", "truncated") and ev.text:
            self.history.append({"role": "user", "content": prompt})
            self.history.append({"role": "assistant", "content": ev.text})
            store = self.store()
            message_id = None
            if store is not None and self.session_id is not None:
                store.add_message(self.session_id, "user", prompt)
                message_id = store.add_message(self.session_id, "assistant", ev.text,
                                               ev.request_ids[-1] if ev.request_ids else None)
            self.turns.append(Answered(prompt, ev, message_id))

    # --- escalate / compare ----------------------------------------------------------------
    def plan_escalation(self, turn_index: int | None = None, tier: str | None = None) -> Plan:
        """Which turn (default: the last) goes to which tier (default: the next one up).

        Raises EscalationRefused with a sentence for the user when nothing can be sent."""
        return escalation.make_plan(self.settings, self.turns, self.history, turn_index, tier)

    async def escalate(self, turn_index: int | None = None, tier: str | None = None
                       ) -> AsyncIterator[Event]:
        """Re-run an answered turn on another tier with that turn's own history.

        The new answer is a ledger row like any other (it was spent, judged or not); it does
        not enter the conversation until :meth:`judge` keeps it. Pinning and stickiness do
        not apply: the tier is forced. On success the two answers become a stored compare
        pair (``routedeck review`` shows it if no verdict is given now) and ``pending``."""
        plan = self.plan_escalation(turn_index, tier)
        engine = self._get_engine()
        if engine is None:
            raise EscalationRefused("this build has no engine; nothing was sent")
        self.pending = None
        events = engine.run_turn(plan.prompt, list(plan.history), budget=self.budget_state(),
                                 use_cache=False, tier=plan.tier)
        async with contextlib.aclosing(events) as stream:
            async for ev in stream:
                if isinstance(ev, TurnFinished):
                    self._escalated(plan, ev)
                yield ev

    def _escalated(self, plan: Plan, ev: TurnFinished) -> None:
        if ev.status in ("offline", "blocked"):
            return
        self.tallies.append(TurnTally.of(ev))
        if ev.status == "ok" and ev.text:
            pair_id = escalation.store_pair(self.store(), self.session_id, plan, ev)
            self.pending = Pending(plan, ev, pair_id)

    def judge(self, verdict: str) -> Judged:
        """Store the verdict on the pending pair, keep the better answer, maybe stick.

        ``premium_better`` keeps the pricier answer (the new one after an upward escalation)
        in the conversation and, with ``[router] sticky_after_premium_verdict``, keeps the
        rest of the session on that tier; ``cheap_enough`` and ``tie`` keep the given one."""
        pending = self.pending
        if pending is None:
            raise EscalationRefused("there is no finished comparison to judge")
        plan = pending.plan
        keep_new = escalation.keeps_compared(verdict, plan.upward)
        kept = pending.compared if keep_new else plan.given
        store = self.store()
        stored = False
        if store is not None and pending.pair_id is not None:
            cheap, pricey = escalation.ordered_ids(pending)
            store.add_verdict(cheap, pricey, verdict,  # type: ignore[arg-type]
                              kept_request_id=kept.request_ids[-1] if kept.request_ids else None,
                              session_id=self.session_id)
            stored = True
        if keep_new:
            turn = self.turns[plan.turn_index]
            self.history[2 * plan.turn_index + 1] = {"role": "assistant", "content": kept.text}
            self.turns[plan.turn_index] = Answered(turn.prompt, kept, turn.message_id)
            if store is not None and turn.message_id is not None:
                store.replace_message(turn.message_id, kept.text,
                                      kept.request_ids[-1] if kept.request_ids else None)
        note = ""
        sticky = escalation.sticky_for(self.settings, pending, verdict, self.state.sticky_tier)
        if sticky is not None:
            self.state.sticky_tier, self.state.sticky_reason = sticky
            note = f"the rest of the session stays on {sticky[0]} ({sticky[1]})"
        self.pending = None
        return Judged(verdict, plan.turn_index, keep_new, kept, stored, note)

    def verdict_stats(self) -> Any | None:
        """Satisfaction per model and the router scored on the stored verdicts (no store: None)."""
        store = self.store()
        if store is None:
            return None
        from app.core.conversation.verdict_stats import verdict_stats

        return verdict_stats(store, self.settings, self.session_id)

    def leave_compare(self) -> bool:
        """No verdict now; True if a stored pair is left for ``routedeck review``."""
        pending, self.pending = self.pending, None
        return pending is not None and pending.pair_id is not None

    def budget_state(self) -> Any:
        from app.core.ledger.records import BudgetState

        store = self.store()
        if store is not None:
            from app.core.ledger.reader import Ledger

            return Ledger(store).budget_state(self.session_id)
        return BudgetState(session_spent=self.ledger().spent_usd)

    # --- ledger --------------------------------------------------------------------------
    def ledger(self) -> LedgerView:
        """The session's totals: calls, spend, counterfactual, series and the alarm.

        From the store's ledger when there is one (it has every attempt, also of resumed
        sessions), else from the tally of this process's turns."""
        store = self.store()
        if store is not None and self.session_id is not None:
            return self._ledger_from_store(store)
        view = LedgerView(budget_cap_usd=self.settings.budget.session_usd,
                          budget_act_fraction=self.settings.budget.act_at_fraction)
        rows: dict[tuple[str, str], ModelRow] = {}
        actual = premium = 0.0
        for t in self.tallies:
            if not _answered(t):
                continue
            view.turns += 1
            view.calls_by_tier[t.tier] = view.calls_by_tier.get(t.tier, 0) + 1
            view.fallbacks += t.fallback
            view.escalations += t.escalated
            view.cache_hits += t.cached
            row = rows.setdefault((t.model, t.tier), ModelRow(t.model, t.tier))
            row.calls += 1
            row.input_tokens += t.input_tokens
            row.output_tokens += t.output_tokens
            if t.cost_usd is None:
                view.unpriced_calls += 1
                row.unpriced += 1
            else:
                actual += t.cost_usd
                row.cost_usd += t.cost_usd
            # An unknown premium price cannot be a counterfactual; count what actually ran.
            premium += t.premium_cost_usd if t.premium_cost_usd is not None else (t.cost_usd or 0.0)
            view.series.append((actual, premium))
        view.spent_usd, view.premium_usd = actual, premium
        view.models = sorted(rows.values(), key=lambda r: (self._tier_pos(r.tier), r.model))
        view.alarm = self._alarm()
        return view

    def _ledger_from_store(self, store: Any) -> LedgerView:
        from app.core.ledger.reader import Ledger

        ledger = Ledger(store)
        t = ledger.totals(self.session_id, series=True)
        view = LedgerView(
            spent_usd=t.spent, unpriced_calls=t.unpriced,
            premium_usd=t.premium, calls_by_tier=t.tier_calls(), fallbacks=t.fallbacks,
            escalations=t.escalations, cache_hits=t.cache_hits, turns=t.turns,
            budget_cap_usd=self.settings.budget.session_usd,
            budget_act_fraction=self.settings.budget.act_at_fraction,
            series=[(p.actual, p.premium) for p in t.series],
            savings_known=t.savings, savings_pct_known=t.savings_pct,
        )
        tier_of = self._tier_of_model()
        view.models = sorted(
            (ModelRow(b.key, tier_of.get(b.key, "?"), b.calls, b.input_tokens, b.output_tokens,
                      b.spent, b.unpriced) for b in t.by_model.values()),
            key=lambda r: (self._tier_pos(r.tier), r.model))
        r = ledger.recent_rates(self.session_id, self.settings.ui.alarm_window)
        view.alarm = self._alarm_text(r.troubled, r.turns)
        return view

    def _tier_of_model(self) -> dict[str, str]:
        return {t.model: t.name for t in self.settings.tiers}

    def _tier_pos(self, tier: str) -> int:
        return self.tier_names.index(tier) if tier in self.tier_names else len(self.tier_names)

    def _alarm(self) -> str:
        """Fallback+escalation rate over the last N turns; missing turns count as clean."""
        window = self.settings.ui.alarm_window
        recent = [t for t in self.tallies if _answered(t)][-window:]
        return self._alarm_text(sum(1 for t in recent if t.fallback or t.escalated), len(recent))

    def _alarm_text(self, incidents: int, turns: int) -> str:
        # Turns the session has not had yet count as clean, so one early fallback in a
        # two-turn session is not an alarm: the rate is always over the full window.
        window = self.settings.ui.alarm_window
        rate = incidents / window
        if rate <= self.settings.ui.alarm_rate:
            return ""
        return (f"misrouting? {incidents} of the last {turns} turns fell back or escalated "
                f"({rate:.0%} of a {window}-turn window > {self.settings.ui.alarm_rate:.0%}): "
                "check the routing policy")
