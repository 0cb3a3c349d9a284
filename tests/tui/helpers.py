"""Helpers for console tests: build the app, and a scripted engine for deterministic screens.

Pilot tests drive the real engine against the loopback server; snapshot tests use
:class:`ScriptedEngine`, which speaks the engine's event protocol with fixed numbers (latency,
decision time, tokens) so the screen is identical on every run. It records attempts into the
store like the real engine, so the ledger panel shows real ledger arithmetic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.calling.events import (
    Answer,
    AttemptFailed,
    AttemptStarted,
    Event,
    RouteDecided,
    TextDelta,
    TurnFinished,
    Usage,
)
from app.core.config.settings import Settings
from app.core.conversation.session import ConsoleSession
from app.core.ledger.records import AttemptRecord
from app.core.routing.policy import route
from app.core.routing.types import RouteDecision, Signal, TierEstimate
from app.tui.app import RouteDeckApp

FIXED_DECISION_US = 84.0
FIXED_STARTED_AT = 1_760_000_000.0


@dataclass
class Step:
    """One scripted turn: which tier answers, with what, and what went wrong first."""

    text: str
    tier: str | None = None  # None: the routed tier
    fallback_from: str | None = None  # a failed attempt on this tier first
    latency_s: float = 1.2
    input_tokens: int = 120
    output_tokens: int = 240
    status: str = "ok"
    offline: bool = False
    decision: RouteDecision | None = None  # fixed decision (snapshots); None: the real router


class ScriptedEngine:
    """Engine stand-in with the real engine's constructor and run_turn signature."""

    script: list[Step] = []

    def __init__(self, settings: Settings, recorder: Any = None, cache: Any = None,
                 session_id: int | None = None) -> None:
        self.settings = settings
        self.recorder = recorder
        self.session_id = session_id
        self.turns = 0

    async def aclose(self) -> None:
        return None

    def _costs(self, tier: str, usage: Usage):
        from app.core.ledger.costs import attempt_cost

        return attempt_cost(self.settings, self.settings.tier(tier), usage)

    def _record(self, turn_id: str, attempt: int, tier: str, status: str, usage: Usage,
                **kw: Any) -> int:
        if self.recorder is None:
            return 0
        t = self.settings.tier(tier)
        rec = AttemptRecord(
            turn_id=turn_id, attempt=attempt, session_id=self.session_id, tier=tier,
            model=t.model, provider=t.provider, status=status,
            started_at=FIXED_STARTED_AT + self.turns, input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens, usage_source=usage.source, **kw)
        # The real cost function: a failed attempt still pays for its input.
        return self.recorder.record_attempt(self._costs(tier, usage).fill(rec))

    async def run_turn(self, prompt: str, history: list[dict], state: Any = None,
                       budget: Any = None, use_cache: bool = True,
                       tier: str | None = None, cancel: Any = None,
                       fallback: bool = True, system: str | None = None,
                       continues: Any = None, memory: Any = None,
                       route_history: list[dict] | None = None) -> AsyncIterator[Event]:
        self.turns += 1
        step = type(self).script.pop(0)
        seen = history if route_history is None else route_history
        decision = step.decision or replace(route(prompt, self.settings, seen, state, budget),
                                            decision_us=FIXED_DECISION_US)
        yield RouteDecided(decision)
        final = step.tier or decision.tier
        model = self.settings.tier(final).model
        if step.offline:
            from app.core.calling.engine import offline_message

            yield TurnFinished("offline", Answer("", decision.tier, decision.model),
                               offline_message(self.settings, self.settings.tier(decision.tier)))
            return
        turn_id = f"turn-{self.session_id}-{self.turns}"
        usage = Usage(step.input_tokens, step.output_tokens)
        attempt = 1
        if step.fallback_from:
            fb = self.settings.tier(step.fallback_from)
            yield AttemptStarted(1, fb.name, fb.model, fb.provider, "routed")
            self._record(turn_id, 1, fb.name, "error", Usage(step.input_tokens, 0),
                         error_kind="server", error_message="HTTP 500")
            yield AttemptFailed(1, fb.name, fb.model, fb.provider, "server",
                                f"{fb.provider}/{fb.model} answered HTTP 500 (server error); "
                                "falling back to the next tier", True)
            attempt = 2
        t = self.settings.tier(final)
        yield AttemptStarted(attempt, t.name, t.model, t.provider,
                             "fallback" if step.fallback_from else "routed")
        words = step.text.split(" ")
        for i, word in enumerate(words):
            yield TextDelta(word if i == 0 else " " + word)
        rid = self._record(turn_id, attempt, final, step.status, usage,
                           fallback_from=step.fallback_from, answer=step.text)
        yield TurnFinished(step.status, Answer(  # type: ignore[arg-type]
            step.text, final, model, usage=usage, cost_usd=self._costs(final, usage).cost_usd,
            premium_cost_usd=self._costs(final, usage).premium_cost_usd,
            latency_s=step.latency_s, ttft_s=0.3, fallback_from=step.fallback_from,
            finish_reason="stop", request_ids=(rid,)))


def fixed_decision(settings: Settings, tier: str, score: float, task: str,
                   signals: tuple[tuple[float, str], ...], reason: str = "",
                   input_tokens: int = 24) -> RouteDecision:
    """A decision with fixed numbers, so snapshots do not move when the classifier is retrained."""
    from app.core.ledger.pricing import price_for

    estimates = []
    for t in settings.tiers:
        price = price_for(t, settings.provider_for(t))
        cost = price.cost(input_tokens, settings.router.expected_output_tokens) if price else None
        estimates.append(TierEstimate(t.name, t.model, input_tokens,
                                      settings.router.expected_output_tokens, cost))
    threshold = settings.router.thresholds[0]
    t = settings.tier(tier)
    return RouteDecision(
        tier=tier, tier_index=settings.tier_index(tier), model=t.model, provider=t.provider,
        score=score, threshold=threshold, task_type=task, confidence=abs(score - 0.5) * 2,
        rule="threshold",
        reason=reason or f"score {score:.2f} {'>=' if score >= threshold else '<'} threshold {threshold:.2f}",
        signals=tuple(Signal(label, w) for w, label in signals), decision_us=FIXED_DECISION_US,
        estimates=tuple(estimates), strategy="learned")


def make_app(settings: Settings, *, engine_factory: Any = None, session_id: int | None = None,
             pin_tier: str | None = None, playback: Any = None,
             theme_dirs: list[Path] | None = None) -> RouteDeckApp:
    """An app as run_console builds it, minus the warm-up thread and the cursor blink."""
    session = ConsoleSession(settings, pin_tier=pin_tier, engine_factory=engine_factory)
    session.open(session_id)
    app = RouteDeckApp(session, playback=playback, theme_dirs=theme_dirs, warm_up=False,
                       cursor_blink=False)
    app.animation_level = "none"
    return app


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    """Pump the app until ``condition()`` holds; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the console")
        await pilot.pause(0.02)


async def send(pilot, text: str) -> None:
    """Type ``text`` into the prompt and press Enter."""
    from app.tui.widgets.prompt import PromptInput

    pilot.app.query_one(PromptInput).text = text
    await pilot.press("enter")


def kept_answers(app) -> list:
    """The answer of record of every answered turn, oldest first."""
    conv = app.session.conversation
    return [conv[i].answer for i in conv.answered()]


def history(app) -> list[dict[str, str]]:
    return app.session.conversation.history()


async def ask_and_wait(pilot, text: str) -> None:
    """Send ``text`` and wait until its turn has finished."""
    app = pilot.app
    before = len(app.session.conversation)
    await send(pilot, text)
    await wait_for(pilot, lambda: len(app.session.conversation) > before and not app.running)
