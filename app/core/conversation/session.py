"""One console session without any UI: it coordinates the conversation, the session state
and the services, and is the only thing the console talks to.

* :class:`~app.core.conversation.turn.Conversation` owns the turns (the history sent with
  each prompt is derived from them);
* :class:`~app.core.routing.policy.SessionState` holds what the user and past turns decided
  (pin, force-next, sticky), changed only here: the engine reports a sticky tier as an event;
* :class:`~app.core.conversation.services.Services` opens the store, cache and engine;
* the ledger panel is a view of the store (:mod:`app.core.conversation.ledger_view`);
* escalation and verdicts follow :mod:`app.core.conversation.escalation`.

Every event the console renders comes from here or the engine, terminal ones included: a
cancelled turn ends with the engine's ``TurnFinished("cancelled")``, and an unexpected
failure inside the core with ``TurnFinished("crashed")`` (logged with its traceback).
Store writes run in worker threads so the console's event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from app.core.calling.events import Answer, Continues, Event, RouteDecided, StickyTier, TurnFinished
from app.core.config.settings import Settings
from app.core.conversation import escalation, presence
from app.core.conversation.escalation import EscalationRefused, Judged, Pending, Plan
from app.core.conversation.ledger_view import LedgerView, ledger_view
from app.core.conversation.services import EngineFactory, Services
from app.core.conversation.stored import (
    COMPARE_REASON,
    continuing,
    stored_system_prompt,
    stored_turns,
)
from app.core.conversation.turn import Conversation, Turn
from app.core.conversation.verdict_stats import VerdictStats, verdict_stats
from app.core.evaluation.labels import verdict_memory
from app.core.ledger.money import money_text
from app.core.ledger.reader import Ledger
from app.core.ledger.records import BudgetState
from app.core.ledger.store import Store, StoreError
from app.core.routing.memory import Memory
from app.core.routing.policy import SessionState, route
from app.core.textsafe import clean

log = logging.getLogger("routedeck")

AUTO = None  # pin value meaning "let the router decide"

OFFLINE_HELP = (
    "No model was called: no provider credentials are configured. Set the environment variable "
    "named by api_key_env (e.g. export {env}=...) or point a tier at a keyless local server "
    "(Ollama, llama.cpp, vLLM) with api_key_env = \"\" in the config."
)


TITLE_CHARS = 60


class SessionError(Exception):
    """A user-facing problem opening or resuming a session (unknown id, unknown tier)."""


@dataclass(frozen=True)
class SessionInfo:
    id: int
    title: str  # given, or the first prompt
    last_active: str
    turns: int
    spent: str  # money text, "at least ..." with unpriced calls


class ConsoleSession:
    def __init__(
        self,
        settings: Settings,
        *,
        pin_tier: str | None = None,
        engine_factory: EngineFactory | None = None,
        store: Store | None = None,
        use_store: bool = True,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.tier_names = [t.name for t in settings.tiers]
        if pin_tier is not None and pin_tier not in self.tier_names:
            raise SessionError(f"unknown tier '{pin_tier}' for --tier; configured tiers: "
                               f"{', '.join(self.tier_names)}")
        self.state = SessionState(pinned_tier=pin_tier)
        self.conversation = Conversation()
        self.pending: Pending | None = None  # an escalation awaiting a verdict
        # The console marks the session it shows (presence.py), so `ask -c` can warn that
        # its turn will not appear there; one-shot commands leave it False.
        self.marks_presence = False
        self._session_id: int | None = None
        self.services = Services(settings, engine_factory=engine_factory, store=store,
                                 use_disk=use_store, on_notice=on_notice)
        self.offline_notice_shown = False
        self.system_prompt: str | None = None  # this session's own (over tier and global)
        self._memory: Memory | None = None  # judged prompts, loaded on first use
        self.title = ""
        self._cancel: asyncio.Event | None = None

    # --- session lifecycle ----------------------------------------------------------------
    @property
    def session_id(self) -> int | None:
        return self._session_id

    @session_id.setter
    def session_id(self, value: int | None) -> None:
        self._session_id = value
        if self.marks_presence:
            presence.hold(value)

    @property
    def offline(self) -> bool:
        return not self.settings.has_credentials()

    def offline_help(self) -> str:
        envs = [self.settings.provider_for(t).api_key_env for t in self.settings.tiers]
        env = next((e for e in envs if e), "OPENAI_API_KEY")
        return OFFLINE_HELP.format(env=env)

    @property
    def store_problem(self) -> str:
        return "; ".join(self.services.problems)

    def store(self) -> Store:
        return self.services.store()

    def open(self, session_id: int | None = None) -> None:
        """Start a new session, or resume ``session_id`` (SessionError if it is unknown or
        cannot be read).

        A new session whose store fails on its first write still opens: a damaged file is
        replaced by an in-memory store for this run, any other one is kept (the calls are
        recorded when it can be, or kept for the next run) with the conversation unsaved;
        :attr:`store_problem` says which."""
        if session_id is not None:
            try:
                self.resume(session_id)
            except StoreError as exc:
                raise SessionError(f"session {session_id} cannot be read: {exc}") from None
            return
        try:
            self.new_session()
        except StoreError as exc:
            if exc.kind == "damaged":
                self.services.fall_back(str(exc))
                self.new_session()
                return
            # Locked, full, read-only: the store stays, so each call's row is still written
            # when it can be, or kept for the next run (LedgerWriter); only the conversation
            # itself goes unsaved.
            self.services.problems.append(f"this conversation is not stored ({exc})")
            self.session_id = None

    def new_session(self) -> int:
        self.session_id = self.store().new_session()
        self.conversation = Conversation()
        self._forget_routing()
        self.system_prompt, self.title = None, ""
        return self.session_id

    def _forget_routing(self) -> None:
        """What one session's turns decided for its own rest (staying on a tier after a
        verdict, a force for the next prompt, a pending comparison) ends with it; a pin is
        the user's own setting and stays."""
        self.pending = None
        self.state.sticky_tier, self.state.sticky_reason = None, ""
        self.state.force_next = None

    def resume(self, session_id: int) -> None:
        store = self.store()
        # Ids are 64-bit in the store: a longer number cannot name a session (and would
        # overflow the database driver).
        if not 0 < session_id < 2**63 or store.session(session_id) is None:
            known = [str(s.id) for s in self.list_sessions()[:10]]
            hint = f"recent sessions: {', '.join(known)}" if known else "no sessions stored yet"
            raise SessionError(f"unknown session {session_id} ({hint})")
        self.session_id = session_id
        self.conversation = Conversation(stored_turns(store, session_id))
        self._route_offline_turns()
        self._forget_routing()
        self.system_prompt = stored_system_prompt(store, session_id)
        self.title = store.session(session_id)["title"] or ""

    def _route_offline_turns(self) -> None:
        """Route again the stored prompts that were never sent (a decision is well under a
        millisecond and none is stored), so their projection and "would go to" come back."""
        conv = self.conversation
        for i, turn in enumerate(conv.turns):
            if turn.status == "offline":
                turn.decision = route(turn.prompt, self.settings,
                                      conv.history(before=i, offline_too=True))

    def list_sessions(self, limit: int = 50) -> list[SessionInfo]:
        """Stored sessions, most recently active first; of the empty ones only the open one."""
        out = []
        for s in self.store().sessions(limit, empty=False, keep=self.session_id):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["last_at"] or s["created_at"]))
            out.append(SessionInfo(
                int(s["id"]), s["title"] or s["first_prompt"] or "(no prompt yet)", when,
                int(s["turns"] or 0),
                money_text(float(s["spent"] or 0.0), int(s["unpriced"] or 0))))
        return out

    def rename(self, title: str, session_id: int | None = None) -> str:
        """Give a session (default: this one) a title; returns the title stored."""
        title = " ".join(title.split())[:TITLE_CHARS]
        if not title:
            raise SessionError("a session title cannot be empty")
        sid = self.session_id if session_id is None else session_id
        if sid is None:
            raise SessionError("there is no session to rename")
        self.store().set_title(sid, title)
        if sid == self.session_id:
            self.title = title
        return title

    def delete_session(self, session_id: int) -> None:
        """Forget another session's conversation (its costs stay in the ledger)."""
        if session_id == self.session_id:
            raise SessionError("this session is open: start a new one (ctrl+n) before "
                               "deleting it")
        if self.store().session(session_id) is None:
            raise SessionError(f"unknown session {session_id}")
        self.store().delete_session(session_id)

    def set_system_prompt(self, text: str) -> None:
        """This session's system prompt from now on ('' goes back to the configured one)."""
        self.system_prompt = text.strip() or None
        if self.session_id is not None:
            self.store().add_message(self.session_id, "system", self.system_prompt or "")

    def prompt_history(self, limit: int = 500) -> list[str]:
        """Prompts sent before (every session), newest first, each once."""
        return self.store().user_prompts(limit)

    def close(self) -> None:
        if self.marks_presence:
            presence.release()
        self.services.close()

    async def aclose(self) -> None:
        """Close the engine's HTTP clients, the cache and the store (when the console exits)."""
        if self.marks_presence:
            presence.release()
        await self.services.aclose()

    def warm_up(self) -> None:
        """Open the store and engine and load token/price tables now (call from a thread), so
        the first prompt does not pay for them on the UI's event loop."""
        from app.core.routing.lookup import INDEX
        from app.core.routing.policy import route

        self.services.engine(self.session_id)
        route("warm up", self.settings)
        # Every word's record now rather than on the prompt that first uses it (the first
        # decisions of a session took 0.5-1.3 ms instead of about 0.1).
        INDEX.warm()

    # --- user decisions ------------------------------------------------------------------
    def cycle_pin(self) -> str | None:
        """auto -> cheapest -> ... -> premium -> auto; returns the new pin (None = auto).

        While the session sticks to a tier (a fallback, or a "premium was better" verdict)
        and nothing is pinned, the first press only ends the stickiness."""
        cur = self.state.pinned_tier
        if cur is AUTO and self.clear_sticky():
            return AUTO
        order: list[str | None] = [AUTO, *self.tier_names]
        self.state.pinned_tier = order[(order.index(cur) + 1) % len(order)] \
            if cur in order else AUTO
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
    def start_turn(self, prompt: str) -> int:
        """Add a turn for ``prompt``; :meth:`run_turn` then answers it. Returns its index."""
        self._new_cancel()
        return self.conversation.start(clean(prompt))

    def replace_last(self, prompt: str | None = None) -> int:
        """Regenerate (``prompt`` None) or edit the last turn: it leaves the conversation
        (and the stored history; its cost stays in the ledger) and a new turn takes its
        place. Returns the new turn's index."""
        last = len(self.conversation) - 1
        if last < 0:
            raise SessionError("there is no prompt to regenerate or edit yet")
        turn = self.conversation[last]
        if turn.running:
            raise SessionError("the last answer is still streaming")
        turn.superseded = True
        ids = [i for i in (turn.user_message_id, turn.message_id) if i is not None]
        if ids:
            self.store().delete_messages(ids)
        index = self.start_turn(turn.prompt if prompt is None else prompt)
        self.conversation[index].fresh = prompt is None  # a new answer, not the cached one
        # Still the same turn of the conversation: its calls join the replaced one's in the
        # ledger, so the turn counts once (spent on both, against one all-premium answer).
        self.conversation[index].replaces = turn.answer.turn_id if turn.answer else ""
        return index

    def cancel_turn(self) -> bool:
        """Ask the running turn (or re-run) to stop; its TurnFinished says "cancelled"."""
        if self._cancel is None or self._cancel.is_set():
            return False
        self._cancel.set()
        return True

    async def run_turn(self, index: int, *, tier: str | None = None,
                       use_cache: bool = True) -> AsyncIterator[Event]:
        """Answer turn ``index`` (on ``tier`` if given): its events, folded into the turn as
        they pass."""
        turn = self.conversation[index]
        history = self.conversation.history(before=index)
        seen = self.conversation.history(before=index, offline_too=True)
        cancel = self._cancel or self._new_cancel()

        def prepare() -> tuple[BudgetState, Any, Memory, Continues | None]:
            return (self.budget_state(), self.services.engine(self.session_id), self.memory(),
                    continuing(self.store(), turn.replaces, "", "replaced", escalates=False))

        async def start() -> AsyncIterator[Event]:
            # One trip to a worker thread, not three: each trip waits for the UI loop's turn.
            budget, engine, memory, continues = await asyncio.to_thread(prepare)
            return engine.run_turn(turn.prompt, history, state=self.state, budget=budget,
                                   cancel=cancel, system=self.system_prompt, tier=tier,
                                   use_cache=use_cache and not turn.fresh, memory=memory,
                                   continues=continues,
                                   # offline turns only ever add messages
                                   route_history=seen if len(seen) > len(history) else None)

        async for ev in self._guarded(turn, cancel, start):
            if isinstance(ev, RouteDecided) and ev.decision.forced:
                self.state.force_next = None  # "force premium" is for one prompt only
            elif isinstance(ev, StickyTier):
                self.state.sticky_tier, self.state.sticky_reason = ev.tier, ev.reason
            elif isinstance(ev, TurnFinished) and ev.answered:
                ev = await self._keep(turn, ev)
            elif isinstance(ev, TurnFinished) and ev.status == "offline":
                # The prompt is kept (with no answer after it), so resuming the session, the
                # prompt history and an offline demo's projection come back; a disk that
                # refuses loses only that.
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._store_offline, turn)
            yield ev

    async def _keep(self, turn: Turn, ev: TurnFinished) -> TurnFinished:
        """Store the answered turn's messages; if the disk refuses, the answer still stands
        and its message says what was not saved."""
        try:
            await asyncio.to_thread(self._store_answer, turn, ev.answer)
        except Exception as exc:  # noqa: BLE001 - sqlite3/OS errors alike: said, not raised
            note = (f"the answer is not saved in the session history ({type(exc).__name__}: "
                    f"{exc})")
            ev = replace(ev, message=f"{ev.message}; {note}" if ev.message else note)
            turn.apply(ev)
        return ev

    def _new_cancel(self) -> asyncio.Event:
        self._cancel = asyncio.Event()
        return self._cancel

    async def _guarded(self, turn: Turn, cancel: asyncio.Event,
                       start: Callable[[], Awaitable[AsyncIterator[Event]]]
                       ) -> AsyncIterator[Event]:
        """The engine's events, each folded into ``turn``; a crash anywhere (the set-up
        included) becomes a TurnFinished("crashed")."""
        finished = False
        try:
            events = await start()
            # aclosing: an abandoned turn lets the engine record it as cancelled and close
            # its HTTP stream right away, not whenever the generator is collected.
            async with contextlib.aclosing(events) as stream:
                async for ev in stream:
                    turn.apply(ev)
                    finished = finished or isinstance(ev, TurnFinished)
                    yield ev
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # a bug in the core must not end the console
            if finished:
                raise
            log.exception("turn crashed")
            d = turn.decision
            crash = TurnFinished("crashed", Answer("", d.tier if d else "", d.model if d else ""),
                                 f"Internal error while answering ({type(exc).__name__}: "
                                 f"{exc}). Nothing more was sent; the details are in the log.")
            turn.apply(crash)
            yield crash
        finally:
            if self._cancel is cancel:
                self._cancel = None

    def _store_answer(self, turn: Turn, answer: Answer) -> None:
        store = self.store()
        if self.session_id is None:
            return
        turn.user_message_id = store.add_message(self.session_id, "user", turn.prompt)
        turn.message_id = store.add_message(self.session_id, "assistant", answer.text,
                                            answer.request_id)
        self._title_from(turn.prompt)

    def _store_offline(self, turn: Turn) -> None:
        if self.session_id is not None:
            turn.user_message_id = self.store().add_message(self.session_id, "user", turn.prompt)
        self._title_from(turn.prompt)

    def _title_from(self, prompt: str) -> None:
        """A session without a title takes its first prompt's (privacy mode keeps none)."""
        if not self.title and self.session_id is not None and self.store().store_prompts \
                and prompt.strip():
            self.rename(prompt)

    def memory(self) -> Memory:
        """Every verdict the user gave, as the router's memory of similar prompts (read from
        the store once, then kept current by :meth:`judge`)."""
        if self._memory is None:
            self._memory = verdict_memory(self.store(), self.settings)
        return self._memory

    def budget_state(self) -> BudgetState:
        return Ledger(self.store()).budget_state(self.session_id)

    # --- escalate / compare ----------------------------------------------------------------
    def plan_escalation(self, turn_index: int | None = None, tier: str | None = None) -> Plan:
        """Which turn (default: the last answered) goes to which tier (default: one up).

        Raises EscalationRefused with a sentence for the user when nothing can be sent."""
        return escalation.make_plan(self.settings, self.conversation, turn_index, tier)

    async def escalate(self, turn_index: int | None = None, tier: str | None = None
                       ) -> AsyncIterator[Event]:
        """Re-run an answered turn on another tier with that turn's own history.

        The new answer is a ledger row like any other (it was spent, judged or not); it does
        not enter the conversation until :meth:`judge` keeps it. Pinning and stickiness do
        not apply: the tier is forced, and it never falls back to a third tier. On success
        the two answers become a stored compare pair (``routedeck review`` shows it if no
        verdict is given now) and ``pending``."""
        plan = self.plan_escalation(turn_index, tier)
        self.pending = None
        rerun = Turn(plan.prompt)
        cancel = self._new_cancel()

        def prepare() -> tuple[BudgetState, Any, Continues | None]:
            return (self.budget_state(), self.services.engine(self.session_id),
                    continuing(self.store(), plan.given.turn_id, plan.given.tier,
                               f"{COMPARE_REASON} turn {plan.turn_index + 1} re-run on "
                               f"{plan.tier}"))

        async def start() -> AsyncIterator[Event]:
            budget, engine, continues = await asyncio.to_thread(prepare)
            return engine.run_turn(plan.prompt, list(plan.history), budget=budget,
                                   use_cache=False, tier=plan.tier, fallback=False,
                                   cancel=cancel, system=self.system_prompt,
                                   continues=continues)

        async for ev in self._guarded(rerun, cancel, start):
            if isinstance(ev, TurnFinished) and ev.status == "ok" and ev.answer.text:
                try:
                    pair_id = await asyncio.to_thread(self._store_pair, plan, ev.answer)
                except Exception as exc:  # noqa: BLE001 - the comparison stands; say so
                    pair_id = None
                    ev = replace(ev, message=f"the pair is not stored for `routedeck review` "
                                             f"({type(exc).__name__}: {exc})")
                self.pending = Pending(plan, ev.answer, pair_id)
            yield ev

    def _store_pair(self, plan: Plan, compared: Answer) -> int | None:
        cheap, pricey = Pending(plan, compared, None).ordered_ids()
        if cheap is None or pricey is None:
            return None
        return self.store().add_compare_pair(plan.prompt, cheap, pricey,
                                             session_id=self.session_id, source="console")

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
        if pending.pair_id is not None:
            cheap, pricey = pending.ordered_ids()
            assert cheap is not None and pricey is not None  # a stored pair has both
            store.add_verdict(cheap, pricey, verdict, kept_request_id=kept.request_id,
                              session_id=self.session_id)
            stored = True
        turn = self.conversation[plan.turn_index]
        turn.compared, turn.verdict = pending.compared, verdict
        # Routing learns from it at once: similar prompts now go where the verdict says.
        self.memory().add(plan.prompt, verdict)
        if keep_new:
            turn.answer = kept
            if turn.message_id is not None:
                store.replace_message(turn.message_id, kept.text, kept.request_id)
        note = ""
        sticky = escalation.sticky_for(self.settings, pending, verdict, self.state.sticky_tier)
        if sticky is not None:
            self.state.sticky_tier, self.state.sticky_reason = sticky
            note = f"the rest of the session stays on {sticky[0]} ({sticky[1]})"
        self.pending = None
        return Judged(verdict, plan.turn_index, keep_new, kept, stored, note, *plan.tiers())

    def leave_compare(self) -> bool:
        """No verdict now; True if a stored pair is left for ``routedeck review``."""
        pending, self.pending = self.pending, None
        return pending is not None and pending.pair_id is not None

    def verdict_stats(self) -> VerdictStats:
        """Satisfaction per model and the router scored on the stored verdicts."""
        return verdict_stats(self.store(), self.settings, self.session_id)

    # --- ledger --------------------------------------------------------------------------
    def ledger(self) -> LedgerView:
        """The session's totals from the store (blocking: the console calls it in a thread),
        plus, for prompts routed offline, what they would have cost (marked projected)."""
        view = ledger_view(self.store(), self.settings, self.session_id)
        top = self.tier_names[-1]
        for turn in self.conversation.turns:
            d = turn.decision
            if turn.status != "offline" or d is None or turn.superseded:
                continue  # an edited offline prompt is projected once, as edited
            routed, premium = d.estimate_for(d.tier), d.estimate_for(top)
            view.projected_turns += 1
            if routed is None or routed.cost_usd is None or premium is None \
                    or premium.cost_usd is None:
                view.projected_unpriced += 1
                continue
            view.projected_routed_usd += routed.cost_usd
            view.projected_premium_usd += premium.cost_usd
        return view

