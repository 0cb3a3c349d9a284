"""One turn end to end: route, cache, call (streaming), retry/fallback, cascade, record.

:meth:`Engine.run_turn` is an async generator of :mod:`app.core.calling.events`. Event order::

    RouteDecided
    [CacheHit -> TurnFinished(cached=True)]                       cache hit: nothing called
    AttemptStarted -> TextDelta* -> (AttemptFailed | UsageReported)   one block per attempt
    [Escalated]                                                    cascade re-asks one tier up
    TurnFinished                                                   always exactly one, last

TextDeltas belong to the latest AttemptStarted. When an attempt fails after streaming some
text, AttemptFailed carries that partial text and the consumer should drop (or grey out) what
it showed: the next attempt starts from scratch. TurnFinished.text is the answer of record.

With the cascade on, the cheap answer is buffered (it must be judged whole) and is emitted as
one TextDelta only when accepted; a rejected cheap answer is never shown.

Cancellation: ``task.cancel()`` (a Textual worker's cancel, Ctrl+C under ``asyncio.run``) or
``aclose()`` of the generator records the in-flight attempt as "cancelled" with the text and
tokens received so far (tokens estimated), closes the HTTP stream, and lets CancelledError /
GeneratorExit propagate: no TurnFinished follows a cancel, since the consumer is gone.
Consumers should iterate inside ``contextlib.aclosing(engine.run_turn(...))``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

from app.core.calling import tokens
from app.core.calling.cascade import judge
from app.core.calling.events import (
    AttemptFailed,
    AttemptStarted,
    CacheHit,
    Escalated,
    Event,
    RouteDecided,
    TextDelta,
    TurnFinished,
    Usage,
    UsageReported,
)
from app.core.calling.providers import ProviderError, ProviderPool, StreamState
from app.core.config.settings import Settings, TierConfig
from app.core.ledger.pricing import Price, price_for
from app.core.ledger.records import AttemptRecord, BudgetState, Recorder
from app.core.routing.policy import SessionState, route
from app.core.routing.types import RouteDecision


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

    def __init__(self, prompt: str, messages: list[dict[str, str]], decision: RouteDecision):
        self.id = uuid.uuid4().hex
        self.prompt = prompt
        self.messages = messages
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


class Engine:
    """Runs turns against the configured providers. One per app/CLI invocation."""

    def __init__(self, settings: Settings, recorder: Recorder | None = None, cache=None,
                 session_id: int | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.cache = cache  # app.core.calling.cache.ResponseCache or None (kept import-light)
        self.session_id = session_id
        self.pool = ProviderPool(settings)

    async def aclose(self) -> None:
        """Close the HTTP clients (call once, when the app or command ends)."""
        await self.pool.aclose()

    # --- pricing -----------------------------------------------------------------------------
    def _price(self, tier: TierConfig) -> Price | None:
        return price_for(tier, self.settings.provider_for(tier))

    def _costs(self, tier: TierConfig, usage: Usage) -> tuple[float | None, float | None]:
        """(cost on this tier, counterfactual cost of the same usage on the premium tier)."""
        price = self._price(tier)
        cost = price.cost(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens) \
            if price else None
        premium = self._price(self.settings.premium)
        # Counterfactual: the same input (and cached-input share) and the output as observed,
        # on the top tier; the same rule as app.core.ledger.reader.premium_counterfactual.
        pcost = premium.cost(usage.input_tokens, usage.output_tokens,
                             usage.cached_input_tokens) if premium else None
        return cost, pcost

    # --- recording ---------------------------------------------------------------------------
    def _record(self, turn: _Turn, tier: TierConfig, status: str, st: StreamState | None,
                usage: Usage, **fields) -> int | None:
        cost, pcost = self._costs(tier, usage)
        if fields.pop("cache_hit", False):
            cost, fields["cache_hit"] = 0.0, True
        turn.costs.append(cost)
        if self.recorder is None:
            return None
        price = self._price(tier)
        d = turn.decision
        rec = AttemptRecord(
            turn_id=turn.id, attempt=max(turn.attempt, 1), session_id=self.session_id,
            tier=tier.name, model=tier.model, provider=tier.provider, status=status,
            started_at=turn.started_at if st is None else time.time() - st.latency_s,
            prompt=turn.prompt, answer=st.text if st else fields.pop("answer", ""),
            task_type=d.task_type, score=d.score, rule=d.rule, reason=d.reason,
            forced=d.forced, pinned=d.pinned,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            reasoning_tokens=usage.reasoning_tokens, usage_source=usage.source,
            price_input_per_mtok=price.input_per_mtok if price else None,
            price_output_per_mtok=price.output_per_mtok if price else None,
            price_cached_input_per_mtok=price.cached_input_per_mtok if price else None,
            price_source=price.source if price else None,
            cost_usd=cost, premium_cost_usd=pcost,
            latency_s=st.latency_s if st else time.perf_counter() - turn.started,
            ttft_s=st.ttft_s if st else None, decision_us=d.decision_us,
            fallback_from=turn.fallback_from,
            escalated=turn.escalated_from is not None,
            escalation_reason=turn.escalation_reason,
            **fields,
        )
        if st is not None and st.finish_reason:
            rec.extra["finish_reason"] = st.finish_reason
        if st is not None and st.mean_logprob is not None:
            rec.extra["mean_logprob"] = f"{st.mean_logprob:.4f}"
        try:
            rid = self.recorder.record_attempt(rec)
        except Exception as exc:  # noqa: BLE001 - see below
            # A ledger that cannot write (disk full, locked file) must not take the answer
            # away; the turn goes on and its TurnFinished message says what was not recorded.
            turn.record_errors.append(f"attempt {rec.attempt}: {type(exc).__name__}: {exc}")
            return None
        if isinstance(rid, int):
            turn.request_ids.append(rid)
        return rid

    def _partial_usage(self, st: StreamState) -> Usage:
        """Tokens of a failed or cancelled attempt: estimated from what was received.

        A request the server refused (HTTP error, unreachable) was not billed: zero tokens.
        """
        if not st.opened:
            return Usage(0, 0, source="estimated")
        inp = tokens.count_messages(st.messages, st.model).tokens
        out = tokens.count(st.text, st.model).tokens if st.parts else 0
        return Usage(inp, out, source="estimated")

    # --- the turn ----------------------------------------------------------------------------
    async def run_turn(
        self,
        prompt: str,
        history: list[dict],
        state: SessionState | None = None,
        budget: BudgetState | None = None,
        use_cache: bool = True,
        tier: str | None = None,
    ) -> AsyncIterator[Event]:
        """One turn as events (see the module docstring for the order and the guarantees).

        ``tier`` forces that tier for this turn (like ``state.force_next``); ``history`` is
        the conversation so far as chat messages and is sent with the prompt. ``state`` is
        updated in place: ``force_next`` is cleared after a forced turn, and a fallback or
        escalation to a higher tier sets ``sticky_tier`` (``[router] sticky_after_fallback``).
        ``use_cache=False`` skips the lookup; a fresh complete answer still refreshes the cache.
        """
        settings = self.settings
        state = state if state is not None else SessionState()
        route_state = replace(state, force_next=tier) if tier else state
        if tier is not None and tier not in [t.name for t in settings.tiers]:
            route_state = replace(state, force_next=None)
            decision = route(prompt, settings, history, route_state, budget)
            yield RouteDecided(decision)
            names = ", ".join(t.name for t in settings.tiers)
            yield TurnFinished("error", "", decision.tier, decision.model,
                               message=f"unknown tier '{tier}' (tiers: {names})")
            return
        decision = route(prompt, settings, history, route_state, budget)
        if decision.forced:
            state.force_next = None  # a forced tier applies to one turn only
        yield RouteDecided(decision)
        chosen = settings.tier(decision.tier)
        messages = [{"role": m["role"], "content": m.get("content") or ""} for m in history]
        messages.append({"role": "user", "content": prompt})
        turn = _Turn(prompt, messages, decision)

        def finish(status: str, message: str, text: str = "", on: TierConfig = chosen,
                   **kw) -> TurnFinished:
            if turn.record_errors:
                note = "not recorded in the ledger: " + "; ".join(turn.record_errors)
                message = f"{message} ({note})" if message else note
            return TurnFinished(status, text, on.name, on.model, message=message,  # type: ignore[arg-type]
                                latency_s=time.perf_counter() - turn.started,
                                request_ids=tuple(turn.request_ids), **kw)

        if decision.blocked:
            yield finish("blocked", decision.reason)
            return
        if not prompt.strip():
            yield finish("error", "The prompt is empty: nothing was sent. Type a question first.")
            return
        if chosen.context_window:
            need = tokens.count_messages(messages, chosen.model).tokens
            if need > chosen.context_window:
                yield finish("error", (
                    f"The conversation is about {need} tokens but tier '{chosen.name}' "
                    f"({chosen.model}) has context_window = {chosen.context_window}: nothing was "
                    "sent. Shorten the prompt, start a new session, or use a tier with a larger "
                    "window."))
                return
        if not settings.provider_for(chosen).usable():
            yield finish("offline", offline_message(settings, chosen))
            return

        if use_cache and self.cache is not None and settings.cache.enabled:
            hit = self.cache.get(messages, chosen.model)
            if hit is not None:
                usage = Usage(hit.input_tokens, hit.output_tokens, source="estimated")
                saved, pcost = self._costs(chosen, usage)
                turn.attempt = 1
                self._record(turn, chosen, "ok", None, usage, cache_hit=True, answer=hit.answer,
                             extra={"similarity": f"{hit.similarity:.3f}"})
                yield CacheHit(chosen.name, chosen.model, hit.answer, saved, hit.similarity)
                yield finish("ok", "answered from the local cache ($0)", hit.answer,
                             usage=usage, cost_usd=0.0, premium_cost_usd=pcost, cached=True,
                             ttft_s=time.perf_counter() - turn.started)
                return

        # aclosing: when the consumer closes this generator, the inner one is closed at once
        # too, so the in-flight attempt is recorded as cancelled now rather than at GC time.
        async with contextlib.aclosing(self._attempts(turn, chosen, state, finish)) as inner:
            async for ev in inner:
                yield ev

    async def _attempts(self, turn: _Turn, first: TierConfig, state: SessionState,
                        finish) -> AsyncIterator[Event]:
        settings = self.settings
        names = [t.name for t in settings.tiers]
        d = turn.decision
        tier = first
        why = "forced" if d.forced else "routed"
        retries = 0
        # The cascade second-guesses the router only; a user's force or pin is final.
        cascade = settings.cascade.enabled and not (d.forced or d.pinned) and \
            names.index(first.name) < len(names) - 1
        tried: set[str] = set()
        while True:
            turn.attempt += 1
            tried.add(tier.name)
            buffered = cascade and tier.name == first.name and turn.escalated_from is None
            st = StreamState(tier.provider, tier.name, tier.model, turn.messages)
            try:
                # Inside the try: a consumer that stops right here still gets a record.
                yield AttemptStarted(turn.attempt, tier.name, tier.model, tier.provider, why)
                async with contextlib.aclosing(
                        self.pool.stream(tier, st, logprobs=buffered)) as deltas:
                    async for delta in deltas:
                        if not buffered:
                            if turn.first_token is None:
                                turn.first_token = time.perf_counter()
                            yield TextDelta(delta)
            except ProviderError as err:
                status = "truncated" if err.kind == "truncated" else "error"
                self._record(turn, tier, status, st, self._partial_usage(st),
                             error_kind=err.kind, error_message=err.message)
                nxt, wait, note = self._next_step(err, tier, retries, tried)
                yield AttemptFailed(turn.attempt, tier.name, tier.model, tier.provider, err.kind,
                                    err.message + note, nxt is not None, st.text)
                if nxt is None:
                    final = "truncated" if err.kind == "truncated" else "error"
                    yield finish(final, err.message + note, st.text if final == "truncated" else "",
                                 on=tier, fallback_from=turn.fallback_from,
                                 cost_usd=self._sum(turn.costs))
                    return
                if wait > 0:
                    await asyncio.sleep(wait)
                if nxt.name == tier.name:
                    retries, why = retries + 1, "retry"
                else:
                    retries, why = 0, "fallback"
                    turn.fallback_from = turn.fallback_from or tier.name
                    tier = nxt
                continue
            except (asyncio.CancelledError, GeneratorExit):
                self._record(turn, tier, "cancelled", st, self._partial_usage(st))
                raise

            usage = st.usage()
            if buffered:
                reason = judge(st.text, st.finish_reason, st.mean_logprob,
                               settings.cascade.min_mean_logprob)
                up = self._tier_above(tier, tried)
                if reason is not None and up is not None:
                    self._record(turn, tier, "ok", st, usage, extra={"cascade": "rejected"})
                    turn.escalated_from, turn.escalation_reason = tier.name, reason
                    yield UsageReported(usage, turn.costs[-1])
                    yield Escalated(tier.name, up.name, reason)
                    self._stick(state, tier, up, f"after a cascade escalation ({reason})")
                    tier, why, retries = up, "escalation", 0
                    continue
            # Recorded before anything else is yielded: the consumer may stop at any yield.
            self._record(turn, tier, "ok", st, usage,
                         extra={"cascade": "accepted"} if buffered else {})
            if buffered and st.text:
                turn.first_token = turn.first_token or time.perf_counter()
                yield TextDelta(st.text)
            cost, pcost = self._costs(tier, usage)
            yield UsageReported(usage, cost)
            if turn.fallback_from is not None:
                self._stick(state, settings.tier(turn.fallback_from), tier,
                            f"after a fallback from {turn.fallback_from}")
            if self.cache is not None and settings.cache.enabled and st.finish_reason == "stop":
                self.cache.put(turn.messages, tier.model, tier.name, st.text,
                               usage.input_tokens, usage.output_tokens, usage.source)
            note = ""
            if st.finish_reason == "length":
                note = (f"the answer stopped at the tier's max_output_tokens "
                        f"({tier.max_output_tokens}); raise it in [[tiers]] '{tier.name}' for "
                        "longer answers")
            ttft = turn.first_token - turn.started if turn.first_token else None
            yield finish("ok", note, st.text, on=tier, usage=usage,
                         cost_usd=self._sum(turn.costs), premium_cost_usd=pcost, ttft_s=ttft,
                         fallback_from=turn.fallback_from, escalated_from=turn.escalated_from)
            return

    # --- policy helpers ------------------------------------------------------------------------
    @staticmethod
    def _sum(costs: list[float | None]) -> float | None:
        # An unknown price anywhere makes the total unknown: never count it as $0.
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def _tier_above(self, tier: TierConfig, tried: set[str]) -> TierConfig | None:
        """The next tier up that has credentials and was not tried in this turn."""
        tiers = self.settings.tiers
        for t in tiers[self.settings.tier_index(tier.name) + 1:]:
            if t.name not in tried and self.settings.provider_for(t).usable():
                return t
        return None

    def _next_step(self, err: ProviderError, tier: TierConfig, retries: int,
                   tried: set[str]) -> tuple[TierConfig | None, float, str]:
        """(tier of the next attempt or None to stop, seconds to wait first, note for the user)."""
        eng = self.settings.engine
        if not err.retryable:
            return None, 0.0, ""
        wait = eng.backoff_s * (2 ** retries)
        too_long = False
        if err.retry_after is not None:
            too_long = err.retry_after > eng.retry_after_max_s
            wait = err.retry_after
        if retries < eng.max_retries and not too_long:
            return tier, wait, ""
        up = self._tier_above(tier, tried)
        if up is None and eng.fallback_model and eng.fallback_model not in tried:
            fb = self.settings.tier(eng.fallback_model)
            up = fb if self.settings.provider_for(fb).usable() else None
        if up is None:
            if too_long:
                return None, 0.0, (f" (the server asked to wait {err.retry_after:g} s, more than "
                                   f"[engine] retry_after_max_s = {eng.retry_after_max_s:g})")
            return None, 0.0, (f" (gave up after {retries + 1} attempt(s) on this tier and no "
                               "tier to fall back to; set [engine] fallback_model to add one)")
        return up, 0.0, ""

    def _stick(self, state: SessionState, old: TierConfig, new: TierConfig, why: str) -> None:
        settings = self.settings
        if not settings.router.sticky_after_fallback:
            return
        if settings.tier_index(new.name) <= settings.tier_index(old.name):
            return
        if state.sticky_tier in [t.name for t in settings.tiers] and \
                settings.tier_index(state.sticky_tier) >= settings.tier_index(new.name):
            return
        state.sticky_tier = new.name
        state.sticky_reason = f"session stays on {new.name} {why}"
