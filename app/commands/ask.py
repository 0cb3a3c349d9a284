"""``routedeck ask PROMPT``: route one prompt, call the model, stream the answer.

On a terminal the answer goes to stdout as it arrives; into a pipe or a file only the answer
that stands is written, once (``--stream``/``--no-stream`` choose), so a retried attempt's
partial text never corrupts what a script reads. Notes (retries with their partial text,
fallbacks) and the closing summary line (tier, model, usage, cost, latency) go to stderr. ``--json`` prints one JSON object on stdout at the end instead. Text mode makes
control characters (ESC, C1) in the answer and in server messages visible and inert
(:mod:`app.core.textsafe`), so a hostile answer cannot drive the terminal; ``--json`` keeps
the exact text (JSON escapes control characters).

Every call attempt is a ledger row. One the ledger cannot take now (locked past the busy
timeout, disk full, read-only) is retried and, if still refused when ``ask`` ends, kept in a
spool file the next command writes: said on stderr (``warning:``) and in ``--json``
(``ledger``). One that can be neither written nor kept is said as an ``error:`` line, every
time, and the exit status tells a script.

Exit codes: 0 answered (a cut answer too, with a note); 1 the call failed (message on stderr,
no traceback); 2 no credentials / bad config / bad usage; 3 answered, but the cost of the
call is not in the ledger (it could be neither written nor kept; stderr says why);
130 interrupted with Ctrl+C.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from app.commands.common import (
    EXIT_CONFIG,
    ROW_ID,
    config_file_of,
    load_or_exit,
    prompt_or_stdin,
)
from app.core.textsafe import dumps, inert

EXIT_FAILED = 1
EXIT_NOT_RECORDED = 3
EXIT_INTERRUPTED = 130


def _usage_text(ans: Any) -> str:
    u = ans.usage
    if u is None:
        return "no usage"
    return f"{u.input_tokens} in / {u.output_tokens} out tokens ({u.source})"


def _summary(fin: Any, provider: str) -> str:
    from app.core.ledger.money import format_usd

    ans = fin.answer
    parts = [ans.tier, f"{ans.model} via {provider}", _usage_text(ans),
             format_usd(ans.cost_usd), f"{ans.latency_s:.2f} s"]
    if ans.cached:
        parts.append("cache hit")
    if ans.fallback_from:
        parts.append(f"fell back from {ans.fallback_from}")
    if ans.escalated_from:
        parts.append(f"escalated from {ans.escalated_from}")
    if fin.status == "truncated":
        parts.append("CUT SHORT")
    if ans.premium_cost_usd is not None and ans.cost_usd is not None:
        parts.append(f"premium would cost {format_usd(ans.premium_cost_usd)}")
    return "[" + " · ".join(parts) + "]"


class _Output:
    """Where text goes. Live mode writes deltas to stdout as they come (a failed attempt's
    text then stays there, marked incomplete on stderr); buffered mode writes only the answer
    that stands, once, so a pipe or a file never holds a retried attempt's partial text."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.shown = False  # some of the current attempt is on stdout

    def delta(self, text: str) -> None:
        if self.live:
            sys.stdout.write(inert(text))
            sys.stdout.flush()
            self.shown = True

    def failed(self, attempt: int, message: str, partial: str) -> None:
        if self.shown:
            sys.stdout.write("\n")
            sys.stdout.flush()
            click.echo(inert(f"! attempt {attempt} failed (the text above is incomplete): "
                             f"{message}"), err=True)
        else:
            cut = f" after {len(partial)} characters: {partial[:200]!r}" if partial else ""
            click.echo(inert(f"! attempt {attempt} failed{cut}: {message}"), err=True)
        self.shown = False

    def finished(self, text: str, answered: bool) -> None:
        if self.live:
            if self.shown:
                sys.stdout.write("\n")
        elif answered and text:
            sys.stdout.write(inert(text) + "\n")
        sys.stdout.flush()


async def _run(session: Any, prompt: str, tier: str | None, as_json: bool,
               use_cache: bool, live: bool, out: dict[str, Any]) -> None:
    from app.core.calling.events import (
        AttemptFailed,
        AttemptStarted,
        CacheHit,
        Escalated,
        RouteDecided,
        TextDelta,
        TurnFinished,
        UsageReported,
    )
    attempts: list[dict[str, Any]] = out.setdefault("attempts", [])
    show = _Output(live and not as_json)
    try:
        index = session.start_turn(prompt)
        out["session"] = session.session_id
        for problem in session.services.problems:
            click.echo(f"warning: {problem}", err=True)
        async for ev in session.run_turn(index, tier=tier, use_cache=use_cache):
            if isinstance(ev, RouteDecided):
                out["decision"] = ev.decision
            elif isinstance(ev, AttemptStarted):
                attempts.append({"attempt": ev.attempt, "tier": ev.tier, "model": ev.model,
                                 "provider": ev.provider, "why": ev.why, "status": "started"})
                # Said when it happens, so a failure line never promises the wrong next step.
                if not as_json and ev.why in ("retry", "fallback"):
                    step = "retrying" if ev.why == "retry" else "falling back to"
                    click.echo(f"! {step} {ev.tier} ({ev.model}), attempt {ev.attempt}",
                               err=True)
            elif isinstance(ev, TextDelta):
                show.delta(ev.text)
            elif isinstance(ev, UsageReported):
                attempts[-1].update(status="ok", cost_usd=ev.cost_usd,
                                    usage_source=ev.usage.source)
            elif isinstance(ev, AttemptFailed):
                attempts[-1].update(status="failed", error_kind=ev.error_kind,
                                    message=ev.message, partial_text=ev.partial_text)
                # A failure that ends the turn is reported once, by the final message.
                if not as_json and ev.retryable:
                    show.failed(ev.attempt, ev.message, ev.partial_text)
            elif isinstance(ev, Escalated):
                out["escalation"] = {"from": ev.from_tier, "to": ev.to_tier,
                                     "reason": ev.reason}
                if not as_json:
                    click.echo(f"! escalated {ev.from_tier} -> {ev.to_tier}: {ev.reason}",
                               err=True)
            elif isinstance(ev, CacheHit):
                out["cache"] = {"similarity": ev.similarity, "saved_usd": ev.saved_usd}
                show.delta(ev.text)
            elif isinstance(ev, TurnFinished):
                out["finished"] = ev
                if not as_json:
                    show.finished(ev.answer.text, ev.answered)
    finally:
        await session.aclose()


def ledger_state(session: Any) -> dict[str, Any]:
    """What became of this run's ledger rows (after the session closed): the ``ledger``
    object of ``--json`` and what the text mode says."""
    services = session.services
    outcome = services.write_outcome
    saved = services.persistent
    state: dict[str, Any] = {
        "saved": saved and (outcome is None or outcome.clean),
        "retried": outcome.retried if outcome else 0,
        "queued": outcome.spooled if outcome else 0,
        "lost": outcome.lost if outcome else 0,
        "spool_file": str(outcome.spool_file) if outcome and outcome.spool_file else None,
        "problems": list(services.problems) + (outcome.problems if outcome else []),
        "summary": outcome.summary() if outcome else "",
    }
    if not saved:
        state["summary"] = ("the call is not recorded in the ledger: " +
                            "; ".join(services.problems))
    return state


def _as_json(settings: Any, out: dict[str, Any]) -> dict[str, Any]:
    fin = out["finished"]
    ans = fin.answer
    d = out.get("decision")
    u = ans.usage
    try:
        provider = settings.tier(ans.tier).provider
    except KeyError:
        provider = None
    saved = None
    if ans.premium_cost_usd is not None and ans.cost_usd is not None:
        saved = ans.premium_cost_usd - ans.cost_usd
    return {
        "status": fin.status,
        "text": ans.text,
        "tier": ans.tier,
        "model": ans.model,
        "provider": provider,
        "usage": None if u is None else {
            "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
            "cached_input_tokens": u.cached_input_tokens,
            "reasoning_tokens": u.reasoning_tokens, "source": u.source},
        "cost_usd": ans.cost_usd,
        "premium_cost_usd": ans.premium_cost_usd,
        "saved_usd": saved,
        "latency_s": round(ans.latency_s, 4),
        "ttft_s": None if ans.ttft_s is None else round(ans.ttft_s, 4),
        "cached": ans.cached,
        "cache": out.get("cache"),
        "fallback_from": ans.fallback_from,
        "escalated_from": ans.escalated_from,
        "escalation": out.get("escalation"),
        "finish_reason": ans.finish_reason,
        "message": fin.message,
        "notes": list(fin.notes),
        "ledger": out.get("ledger"),
        "request_ids": list(ans.request_ids),
        "session": out.get("session"),
        "decision": None if d is None else {
            "tier": d.tier, "rule": d.rule, "reason": d.reason, "score": round(d.score, 4),
            "task_type": d.task_type, "decision_us": round(d.decision_us, 1)},
        "attempts": out.get("attempts", []),
    }


def _open_session(settings: Any, continue_: bool, session_id: int | None) -> Any:
    """The conversation to ask in: a new one, the latest (-c) or a given one (--session)."""
    from app.core.conversation.session import ConsoleSession, SessionError

    # [telemetry]: each attempt is also exported; the one collector notice goes to stderr.
    session = ConsoleSession(settings, on_notice=lambda text: click.echo(f"warning: {text}",
                                                                          err=True))
    from app.core.ledger.store import StoreError

    if continue_:
        try:
            latest = session.list_sessions(1)
        except StoreError as exc:  # the ledger cannot be read: a new conversation, said
            click.echo(f"warning: no earlier conversation can be read ({exc})", err=True)
            latest = []
        session_id = latest[0].id if latest else None
        if session_id is None:
            click.echo("note: no earlier conversation to continue; starting a new one", err=True)
    try:
        session.open(session_id)
    except SessionError as exc:
        session.close()
        raise click.BadParameter(str(exc), param_hint="--session") from None
    if session_id is not None:
        from app.core.conversation import presence

        pid = presence.holder(session_id)
        if pid is not None:
            click.echo(f"warning: session {session_id} is open in a console (pid {pid}): this "
                       "turn is stored in it, but that console will neither show it nor send "
                       "it as history (resume the session there with F4 to see it)", err=True)
    return session


@click.command()
@click.argument("prompt", required=False)
@click.option("--tier", help="Use this tier instead of routing (a [[tiers]] name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.option("--no-cache", is_flag=True,
              help="Do not answer from the cache (a fresh answer still refreshes it).")
@click.option("--stream/--no-stream", default=None,
              help="Write the answer as it arrives (default when stdout is a terminal), or "
                   "only the answer that stands, once (default for pipes and files).")
@click.option("-c", "--continue", "continue_", is_flag=True,
              help="Continue the most recent conversation (console or ask) with its history.")
@click.option("--session", "session_id", type=ROW_ID,
              help="Continue this stored session (see `routedeck report` or the console's F4).")
@click.option("-s", "--system", help="System prompt for this conversation (kept when it is "
              "continued; over the tier's and [chat] system_prompt).")
@click.pass_context
def ask(ctx: click.Context, prompt: str | None, tier: str | None, as_json: bool,
        no_cache: bool, stream: bool | None, continue_: bool, session_id: int | None,
        system: str | None) -> None:
    """Ask PROMPT (or stdin): route it, call the model, stream the answer.

    Each ask is a conversation stored like a console session: -c continues the latest one,
    --session N a given one (the answer is then routed and sent with that history)."""
    prompt = prompt_or_stdin(prompt)
    settings = load_or_exit(config_file_of(ctx))
    names = [t.name for t in settings.tiers]
    if tier is not None and tier not in names:
        raise click.BadParameter(f"'{tier}' is not a tier ({', '.join(names)})",
                                 param_hint="--tier")
    if continue_ and session_id is not None:
        raise click.UsageError("choose one of -c/--continue and --session")
    session = _open_session(settings, continue_, session_id)
    if system is not None:
        from app.core.ledger.store import StoreError

        try:
            session.set_system_prompt(system)
        except StoreError as exc:  # still sent with this prompt; only not kept for -c
            click.echo(f"warning: the system prompt is not stored ({exc})", err=True)
    out: dict[str, Any] = {}
    try:
        live = sys.stdout.isatty() if stream is None else stream
        asyncio.run(_run(session, prompt, tier, as_json, not no_cache, live, out))
    except KeyboardInterrupt:
        # The engine has recorded the in-flight attempt as cancelled by now.
        click.echo("\ncancelled: no complete answer (Ctrl+C)", err=True)
        sys.exit(EXIT_INTERRUPTED)
    fin = out.get("finished")
    if fin is None:  # the engine always finishes a turn; this guards against a broken build
        click.echo("error: the turn ended without a result", err=True)
        sys.exit(EXIT_FAILED)
    ledger = out["ledger"] = ledger_state(session)
    # Rows were made (something was called) but are neither in the ledger nor kept for it.
    unrecorded = bool(fin.answer.request_ids or fin.notes or out.get("attempts")) and \
        (ledger["lost"] > 0 or not session.services.persistent)
    if as_json:
        click.echo(dumps(_as_json(settings, out)))
    else:
        for note in fin.notes:
            click.echo(inert(f"warning: {note}"), err=True)
        if ledger["summary"]:
            head = "error" if unrecorded else "warning"
            click.echo(inert(f"{head}: {ledger['summary']}"), err=True)
    if fin.status in ("ok", "truncated"):
        if not as_json:
            d = out.get("decision")
            if d is not None and d.rule == "budget_downgrade":
                # The console's panel says so; here the cheaper answer would pass silently.
                click.echo(inert(f"note: {d.reason}"), err=True)
            click.echo(inert(_summary(fin, settings.tier(fin.answer.tier).provider)), err=True)
            if fin.status == "truncated":
                click.echo(inert(f"note: {fin.message}"), err=True)
        if unrecorded:
            sys.exit(EXIT_NOT_RECORDED)
        return
    click.echo(inert(f"{fin.status}: {fin.message}"), err=True)
    sys.exit(EXIT_CONFIG if fin.status == "offline" else EXIT_FAILED)
