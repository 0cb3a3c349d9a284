"""One turn end to end: route, cache, call (streaming), retry/fallback, cascade, record.

:meth:`Engine.run_turn` is an async generator of :mod:`app.core.calling.events`. Order::

    RouteDecided
    [CacheHit -> TurnFinished(answer.cached)]                      cache hit: nothing called
    AttemptStarted -> TextDelta* -> (AttemptFailed | UsageReported)   one block per attempt
    [Escalated]                                                    cascade re-asks one tier up
    [StickyTier]                                                   the session should stay up
    TurnFinished                                                   always exactly one, last

TextDeltas belong to the latest AttemptStarted. When an attempt fails after streaming some
text, AttemptFailed carries that partial text and the consumer should drop (or grey out) what
it showed: the next attempt starts from scratch. TurnFinished.answer is the answer of record.

With the cascade on, the cheap answer is buffered (it must be judged whole) and is emitted as
one TextDelta only when accepted; a rejected cheap answer is never shown.

The engine never changes its caller's state: the session state it routes with is read-only
here, and what should change (a sticky tier) comes back as an event.

Cancelling: set the ``cancel`` event passed to :meth:`Engine.run_turn`. The in-flight call is
abandoned at once (even while waiting for a first token), the attempt is recorded as
"cancelled" with the text and tokens received so far (tokens estimated), and the turn ends
with ``TurnFinished("cancelled")`` like any other. If instead the consuming task itself is
cancelled (Ctrl+C under ``asyncio.run``, an app shutting down) or the generator is closed,
the attempt is recorded the same way and CancelledError / GeneratorExit propagate: nobody is
left to receive a TurnFinished. Iterate inside ``contextlib.aclosing(engine.run_turn(...))``.

Blocking work (the ledger write, the cache, tiktoken counts) runs in worker threads, so a slow
disk or a first tokenizer load never stalls the event loop the console draws from.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from app.core.calling import tokens
from app.core.calling.cascade import judge
from app.core.calling.events import (
    Answer,
    AttemptFailed,
    AttemptStarted,
    CacheHit,
    Continues,
    Escalated,
    Event,
    RouteDecided,
    StickyTier,
    TextDelta,
    TurnFinished,
    UsageReported,
)
from app.core.calling.providers import ProviderError, ProviderPool, StreamState
from app.core.calling.race import Cancelled, CancelRace
from app.core.config.settings import Settings, TierConfig
from app.core.ledger.costs import attempt_cost, total_cost
from app.core.ledger.records import AttemptRecord, BudgetState, Recorder, Usage
from app.core.ledger.writer import NotRecorded
from app.core.routing.policy import SessionState, route
from app.core.routing.types import RouteDecision
from app.core.textsafe import clean

T = TypeVar("T")
MAX_BACKOFF_S = 60.0


class Cache(Protocol):
    """What the engine needs of a response cache (:class:`app.core.calling.cache.ResponseCache`)."""

    def get(self, messages: list[dict[str, str]], model: str) -> Any: ...

    def put(self, messages: list[dict[str, str]], model: str, tier: str, answer: str,
            input_tokens: int, output_tokens: int, usage_source: str = "provider") -> bool: ...


def offline_message(settings: Settings, tier: TierConfig) -> str:
    env = settings.provider_for(tier).api_key_env
    return (
        f"No model was called: tier '{tier.name}' uses provider '{tier.provider}', whose API key "
        f"is not set. Set {env} (export {env}=...) to call {tier.model}, or point a tier at a "
        "local server such as Ollama or llama.cpp: a [providers.NAME] section with its base_url "
        'and api_key_env = "" (no key needed).'
    )


class _Turn:
    """Per-turn bookkeeping shared by the attempt loop (kept off the Engine so turns overlap)."""

    def __init__(self, prompt: str, base: list[dict[str, str]], decision: RouteDecision,
                 settings: Settings, system: str | None):
        self.id = uuid.uuid4().hex
        self.prompt = prompt
        self.base = base  # history + prompt, without a system message
        self.settings = settings
        self.system = system
        self.decision = decision
        self.started = time.perf_counter()
        self.started_at = time.time()
        self.attempt = 0
        self.costs: list[float | None] = []
        self.request_ids: list[int] = []
        self.first_token: float | None = None
        self.fallback_from: str | None = None
        self.escalated_from: str | None = None
        self.escalation_reason = ""
        self.record_errors: list[str] = []
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def all_notes(self) -> tuple[str, ...]:
        if not self.record_errors:
            return tuple(self.notes)
        return (*self.notes, "not recorded in the ledger: " + "; ".join(self.record_errors))

    def messages(self, tier: TierConfig) -> list[dict[str, str]]:
        """What is sent to ``tier``: its system prompt (if any), the history, the prompt."""
        system = self.settings.system_prompt_for(tier, self.system)
        return ([{"role": "system", "content": system}] if system else []) + self.base


class Engine:
    """Runs turns against the configured providers. One per app/CLI invocation."""

    def __init__(self, settings: Settings, recorder: Recorder | None = None,
                 cache: Cache | None = None, session_id: int | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.cache = cache
        self.session_id = session_id
        self.pool = ProviderPool(settings)

    async def aclose(self) -> None:
        """Close the HTTP clients (call once, when the app or command ends)."""
        await self.pool.aclose()

    # --- recording ---------------------------------------------------------------------------
    def _attempt_record(self, turn: _Turn, tier: TierConfig, status: str,
                        st: StreamState | None, usage: Usage, **fields: Any) -> AttemptRecord:
        cache_hit = bool(fields.pop("cache_hit", False))
        costs = attempt_cost(self.settings, tier, usage, cache_hit=cache_hit,
                             answered=status in ("ok", "truncated"))
        turn.costs.append(costs.cost_usd)
        d = turn.decision
        rec = AttemptRecord(
            turn_id=turn.id, attempt=max(turn.attempt, 1), session_id=self.session_id,
            tier=tier.name, model=tier.model, provider=tier.provider, status=status,
            started_at=turn.started_at if st is None else time.time() - st.latency_s,
            prompt=turn.prompt, answer=st.text if st else fields.pop("answer", ""),
            task_type=d.task_type, score=d.score, rule=d.rule, reason=d.reason,
            forced=d.forced, pinned=d.pinned, cache_hit=cache_hit,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens, usage_source=usage.source,
            latency_s=st.latency_s if st else time.perf_counter() - turn.started,
            ttft_s=st.ttft_s if st else None, decision_us=d.decision_us,
            fallback_from=turn.fallback_from,
            escalated=turn.escalated_from is not None,
            escalation_reason=turn.escalation_reason,
            **fields,
        )
        costs.fill(rec)
        if st is not None and st.usage_notes:
            rec.extra["usage_warning"] = "; ".join(st.usage_notes)[:1000]
            for note in st.usage_notes:
                turn.note(f"{tier.name}: {note}")
        if st is not None and st.finish_reason:
            rec.extra["finish_reason"] = st.finish_reason
        if st is not None and st.answered_by:
            rec.extra["response_model"] = st.answered_by
        if st is not None and st.mean_logprob is not None:
            rec.extra["mean_logprob"] = f"{st.mean_logprob:.4f}"
        return rec

    def _store(self, turn: _Turn, rec: AttemptRecord) -> None:
        if self.recorder is None:
            return
        try:
            rid = self.recorder.record_attempt(rec)
        except NotRecorded as exc:
            # The recorder kept the row and writes it when the ledger can take it.
            turn.record_errors.append(f"attempt {rec.attempt} not written yet ({exc}); it is "
                                      "kept and retried")
            return
        except Exception as exc:  # noqa: BLE001 - see below
            # A ledger that cannot write (disk full, locked file) must not take the answer
            # away; the turn goes on and its TurnFinished notes say what was not recorded.
            turn.record_errors.append(f"attempt {rec.attempt}: {type(exc).__name__}: {exc}")
            return
        if isinstance(rid, int):
            turn.request_ids.append(rid)

    async def _record(self, turn: _Turn, tier: TierConfig, status: str,
                      st: StreamState | None, usage: Usage, **fields: Any) -> None:
        rec = self._attempt_record(turn, tier, status, st, usage, **fields)
        await asyncio.to_thread(self._store, turn, rec)

    def _record_now(self, turn: _Turn, tier: TierConfig, status: str, st: StreamState) -> None:
        """Cancellation path: the consumer is going away, so record synchronously."""
        self._store(turn, self._attempt_record(turn, tier, status, st, _partial_usage(st)))

    # --- the turn ----------------------------------------------------------------------------
    async def run_turn(
        self,
        prompt: str,
        history: list[dict[str, str]],
        state: SessionState | None = None,
        budget: BudgetState | None = None,
        use_cache: bool = True,
        tier: str | None = None,
        cancel: asyncio.Event | None = None,
        fallback: bool = True,
        system: str | None = None,
        continues: Continues | None = None,
        memory: Any = None,
        route_history: list[dict[str, str]] | None = None,
    ) -> AsyncIterator[Event]:
        """One turn as events (see the module docstring for the order and the guarantees).

        ``tier`` forces that tier for this turn; ``history`` is the conversation so far as
        chat messages and is sent with the prompt; ``state`` (pin, force, sticky) is read,
        never changed. ``use_cache=False`` skips the lookup; a fresh complete answer still
        refreshes the cache. ``fallback=False`` keeps every attempt on the routed (or forced)
        tier: a comparison must not quietly answer from another tier. ``system`` is the
        session's system prompt (over the tier's and the global one); ``continues`` makes
        this turn's attempts part of an answered turn (see :class:`Continues`); ``memory``
        is the user's judged prompts (:class:`app.core.routing.memory.Memory`), which move
        the route of similar prompts; ``route_history`` is what routing reads in place of
        ``history`` (the console adds the prompts it routed offline), never sent.
        """
        settings = self.settings
        state = state if state is not None else SessionState()
        # Text no file, database or terminal accepts (a lone surrogate) is fixed on the way in.
        prompt = clean(prompt)
        history = [{**m, "content": clean(m.get("content") or "")} for m in history]
        system = clean(system) if system else system
        names = [t.name for t in settings.tiers]
        if tier is not None and tier not in names:
            decision = route(prompt, settings, history, replace(state, force_next=None), budget,
                             memory)
            yield RouteDecided(decision)
            yield TurnFinished("error", Answer("", decision.tier, decision.model),
                               f"unknown tier '{tier}' (tiers: {', '.join(names)})")
            return
        route_state = replace(state, force_next=tier) if tier else state
        seen = history if route_history is None else [
            {**m, "content": clean(m.get("content") or "")} for m in route_history]
        decision = route(prompt, settings, seen, route_state, budget, memory)
        yield RouteDecided(decision)
        chosen = settings.tier(decision.tier)
        base = [{"role": m["role"], "content": m.get("content") or ""} for m in history]
        base.append({"role": "user", "content": prompt})
        turn = _Turn(prompt, base, decision, settings, system)
        if continues is not None:
            turn.id, turn.attempt = continues.turn_id, continues.attempts
            if continues.escalates:
                turn.escalated_from = continues.from_tier
                turn.escalation_reason = continues.reason
        messages = turn.messages(chosen)
        race = CancelRace(cancel)

        def finish(status: str, message: str, text: str = "", on: TierConfig = chosen,
                   st: StreamState | None = None, **kw: Any) -> TurnFinished:
            # An answer that streamed takes its attempt's latency, the figure its ledger row
            # holds (and a resumed session shows), not one that also counts the recording.
            answer = Answer(text, on.name, on.model, turn_id=turn.id,
                            latency_s=st.latency_s if st is not None
                            else time.perf_counter() - turn.started,
                            request_ids=tuple(turn.request_ids),
                            fallback_from=turn.fallback_from,
                            escalated_from=turn.escalated_from, **kw)
            return TurnFinished(status, answer, message,  # type: ignore[arg-type]
                                turn.all_notes())

        try:
            if not prompt.strip():
                yield finish("error", "The prompt is empty: nothing was sent. Type a question "
                             "first.")
                return
            if chosen.context_window:
                count = await race(asyncio.to_thread(tokens.count_messages, messages,
                                                     chosen.model))
                if count.tokens > chosen.context_window:
                    yield finish("error", (
                        f"The conversation is about {count.tokens} tokens but tier "
                        f"'{chosen.name}' ({chosen.model}) has context_window = "
                        f"{chosen.context_window}: nothing was sent. Shorten the prompt, start a "
                        "new session, or use a tier with a larger window."))
                    return
            if not settings.provider_for(chosen).usable():
                yield finish("offline", offline_message(settings, chosen))
                return
            if use_cache and self.cache is not None and settings.cache.enabled:
                hit = await race(asyncio.to_thread(self.cache.get, messages, chosen.model))
                if hit is not None:
                    usage = Usage(hit.input_tokens, hit.output_tokens, source="estimated")
                    turn.attempt = 1
                    await self._record(turn, chosen, "ok", None, usage, cache_hit=True,
                                       answer=hit.answer,
                                       extra={"similarity": f"{hit.similarity:.3f}"})
                    saved = attempt_cost(settings, chosen, usage)
                    yield CacheHit(chosen.name, chosen.model, hit.answer, saved.cost_usd,
                                   hit.similarity)
                    yield finish("ok", "answered from the local cache ($0)", hit.answer,
                                 usage=usage, cost_usd=0.0,
                                 premium_cost_usd=saved.premium_cost_usd, cached=True,
                                 ttft_s=time.perf_counter() - turn.started, finish_reason="stop")
                    return
            # After the cache: an answer it holds costs nothing, so no budget stands in its way.
            if decision.blocked:
                yield finish("blocked", decision.reason)
                return
        except Cancelled:
            yield finish("cancelled", "cancelled before anything was sent")
            return

        # aclosing: when the consumer closes this generator, the inner one is closed at once
        # too, so the in-flight attempt is recorded as cancelled now rather than at GC time.
        try:
            async with contextlib.aclosing(self._attempts(turn, chosen, state, finish,
                                                          race, fallback)) as inner:
                async for ev in inner:
                    yield ev
        finally:
            race.close()

    async def _attempts(self, turn: _Turn, first: TierConfig, state: SessionState,
                        finish: Any, race: CancelRace, fallback: bool) -> AsyncIterator[Event]:
        settings = self.settings
        names = [t.name for t in settings.tiers]
        d = turn.decision
        tier = first
        why = "escalation" if turn.escalated_from else "forced" if d.forced else "routed"
        retries = 0
        # The cascade second-guesses the router only; a user's force or pin is final.
        cascade = settings.cascade.enabled and not (d.forced or d.pinned) and \
            names.index(first.name) < len(names) - 1
        tried: set[str] = set()
        sticky: StickyTier | None = None
        while True:
            turn.attempt += 1
            tried.add(tier.name)
            buffered = cascade and tier.name == first.name and turn.escalated_from is None
            st = StreamState(tier.provider, tier.name, tier.model, turn.messages(tier))
            try:
                # Inside the try: a consumer that stops right here still gets a record.
                yield AttemptStarted(turn.attempt, tier.name, tier.model, tier.provider, why)
                async with contextlib.aclosing(race.stream(
                        self.pool.stream(tier, st, logprobs=buffered))) as deltas:
                    async for delta in deltas:
                        if not buffered:
                            if turn.first_token is None:
                                turn.first_token = time.perf_counter()
                            yield TextDelta(delta)
            except ProviderError as err:
                status = "truncated" if err.kind == "truncated" else "error"
                usage = await asyncio.to_thread(_partial_usage, st)
                await self._record(turn, tier, status, st, usage,
                                   error_kind=err.kind, error_message=err.message)
                nxt, wait, note = self._next_step(err, tier, retries, tried, fallback)
                yield AttemptFailed(turn.attempt, tier.name, tier.model, tier.provider, err.kind,
                                    err.message + note, nxt is not None, st.text)
                if nxt is None:
                    final = "truncated" if err.kind == "truncated" else "error"
                    yield finish(final, err.message + note,
                                 st.text if final == "truncated" else "", on=tier,
                                 cost_usd=total_cost(turn.costs))
                    return
                try:
                    if wait > 0:
                        await race(asyncio.sleep(wait))
                except Cancelled:
                    yield finish("cancelled", "cancelled while waiting to retry", on=tier,
                                 cost_usd=total_cost(turn.costs))
                    return
                if nxt.name == tier.name:
                    retries, why = retries + 1, "retry"
                else:
                    retries, why = 0, "fallback"
                    turn.fallback_from = turn.fallback_from or tier.name
                    tier = nxt
                continue
            except Cancelled:
                usage = await asyncio.to_thread(_partial_usage, st)
                await self._record(turn, tier, "cancelled", st, usage)
                yield finish("cancelled", "cancelled: the answer is incomplete", st.text,
                             on=tier, st=st, usage=usage, cost_usd=total_cost(turn.costs),
                             ttft_s=_ttft(turn))
                return
            except (asyncio.CancelledError, GeneratorExit):
                self._record_now(turn, tier, "cancelled", st)
                raise

            usage = st.usage() if st.provider_usage is not None else \
                await asyncio.to_thread(st.usage)
            if buffered:
                reason = judge(st.text, st.finish_reason, st.mean_logprob,
                               settings.cascade.min_mean_logprob)
                up = self._tier_above(tier, tried)
                if reason is not None and up is not None:
                    await self._record(turn, tier, "ok", st, usage, extra={"cascade": "rejected"})
                    turn.escalated_from, turn.escalation_reason = tier.name, reason
                    yield UsageReported(usage, turn.costs[-1])
                    yield Escalated(tier.name, up.name, reason)
                    sticky = self._sticky(state, tier, up,
                                          f"after a cascade escalation ({reason})") or sticky
                    tier, why, retries = up, "escalation", 0
                    continue
            cut = st.finish_reason == "length"
            # Recorded before anything else is yielded: the consumer may stop at any yield.
            extra = {"cascade": "accepted"} if buffered else {}
            if cut:
                await self._record(turn, tier, "truncated", st, usage, extra=extra,
                                   error_kind="length", error_message=_length_note(tier))
            else:
                await self._record(turn, tier, "ok", st, usage, extra=extra)
            if buffered and st.text:
                turn.first_token = turn.first_token or time.perf_counter()
                yield TextDelta(st.text)
            costs = attempt_cost(settings, tier, usage)
            yield UsageReported(usage, costs.cost_usd)
            if turn.fallback_from is not None:
                sticky = self._sticky(state, settings.tier(turn.fallback_from), tier,
                                      f"after a fallback from {turn.fallback_from}") or sticky
            if sticky is not None:
                yield sticky
            if self.cache is not None and settings.cache.enabled and st.finish_reason == "stop":
                await asyncio.to_thread(self.cache.put, st.messages, tier.model, tier.name,
                                        st.text, usage.input_tokens, usage.output_tokens,
                                        usage.source)
            yield finish("truncated" if cut else "ok", _length_note(tier) if cut else "",
                         st.text, on=tier, st=st, usage=usage, cost_usd=total_cost(turn.costs),
                         premium_cost_usd=costs.premium_cost_usd, ttft_s=_ttft(turn),
                         finish_reason=st.finish_reason)
            return

    # --- policy helpers ------------------------------------------------------------------------
    def _tier_above(self, tier: TierConfig, tried: set[str]) -> TierConfig | None:
        """The next tier up that has credentials and was not tried in this turn."""
        tiers = self.settings.tiers
        for t in tiers[self.settings.tier_index(tier.name) + 1:]:
            if t.name not in tried and self.settings.provider_for(t).usable():
                return t
        return None

    def _next_step(self, err: ProviderError, tier: TierConfig, retries: int,
                   tried: set[str], fallback: bool = True
                   ) -> tuple[TierConfig | None, float, str]:
        """(tier of the next attempt or None to stop, seconds to wait first, note for the user)."""
        eng = self.settings.engine
        if not err.retryable:
            return None, 0.0, ""
        # Doubling per retry, but never past a minute: a turn must end in minutes.
        wait = min(eng.backoff_s * (2 ** retries), MAX_BACKOFF_S)
        too_long = False
        if err.retry_after is not None:
            too_long = err.retry_after > eng.retry_after_max_s
            wait = err.retry_after
        # A server that stalled once will most likely stall again: waiting out the same
        # deadline on the same tier only multiplies the wait, so a timeout moves on.
        same_again = err.kind != "timeout"
        if same_again and retries < eng.max_retries and not too_long:
            return tier, wait, ""
        if not fallback:
            return None, 0.0, (f" (gave up after {retries + 1} attempt(s); this comparison "
                               f"does not fall back to another tier)")
        up = self._tier_above(tier, tried)
        if up is None and eng.fallback_model and eng.fallback_model not in tried:
            fb = self.settings.tier(eng.fallback_model)
            up = fb if self.settings.provider_for(fb).usable() else None
        if up is None:
            if too_long:
                return None, 0.0, (f" (the server asked to wait {err.retry_after:g} s, more than "
                                   f"[engine] retry_after_max_s = {eng.retry_after_max_s:g})")
            if not same_again:
                return None, 0.0, (" (not retried: the same server would likely stall again; "
                                   "no tier to fall back to, set [engine] fallback_model to add "
                                   "one)")
            return None, 0.0, (f" (gave up after {retries + 1} attempt(s) on this tier and no "
                               "tier to fall back to; set [engine] fallback_model to add one)")
        return up, 0.0, ""

    def _sticky(self, state: SessionState, old: TierConfig, new: TierConfig,
                why: str) -> StickyTier | None:
        """The StickyTier event to send, if the session should now stay on ``new``."""
        settings = self.settings
        if not settings.router.sticky_after_fallback:
            return None
        if settings.tier_index(new.name) <= settings.tier_index(old.name):
            return None
        if state.sticky_tier in [t.name for t in settings.tiers] and \
                settings.tier_index(state.sticky_tier) >= settings.tier_index(new.name):
            return None
        return StickyTier(new.name, f"session stays on {new.name} {why}")


def _ttft(turn: _Turn) -> float | None:
    return turn.first_token - turn.started if turn.first_token else None


def _length_note(tier: TierConfig) -> str:
    return (f"the answer was cut at the tier's max_output_tokens ({tier.max_output_tokens}); "
            f"raise it in [[tiers]] '{tier.name}' for longer answers")


def _partial_usage(st: StreamState) -> Usage:
    """Tokens of a failed or cancelled attempt: estimated from what was received.

    A request the server refused (HTTP error, unreachable) was not billed: zero tokens.
    """
    if not st.opened:
        return Usage(0, 0, source="estimated")
    inp = tokens.count_messages(st.messages, st.model).tokens
    out = tokens.count(st.text, st.model).tokens if st.parts else 0
    return Usage(inp, out, source="estimated")
