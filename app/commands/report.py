"""``routedeck report`` (what was spent and saved) and ``routedeck export`` (the raw ledger).

Both read whichever store the config names (the SQLite file, or the team PostgreSQL of
``[store] url``) and print the same figures for the same rows. ``report --by`` splits the
ledger by user, host, tier, model or task type, each group with its turns and savings.

Export writes the requests table, or with ``--labels`` the human verdicts as rows in the
routing data format (``../shared/data/routing/README.md``) so ``routedeck eval`` can score
the router on the user's own traffic. The database holds no credentials, so neither can
leak one.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from app.commands.common import ROW_ID, config_file_of, load_or_exit
from app.commands.outfile import atomic_text, ledger_files
from app.core.evaluation.labels import label_rows
from app.core.textsafe import cleaned, dumps

# report --by: the reader's dimensions, spelled out so the CLI needs no ledger import to start.
BY_CHOICES = ("user", "host", "tier", "model", "task")

if TYPE_CHECKING:
    # Type-only: the store is imported when a command runs, not when the CLI starts.
    from app.core.config.settings import Settings
    from app.core.ledger.store import Store

# Verdict -> (cheap_score, premium_score, preference) under score_type "human_verdict".
# "cheap_enough": the cheap answer served the user (kept), so cheap scores full marks and
# the preference records the user's choice; "premium_better": only premium was right.
def parse_since(value: str | None, param_hint: str = "--since") -> float | None:
    """Local date or date-time (ISO 8601) -> epoch seconds."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time)",
            param_hint=param_hint,
        ) from None
    return parsed.timestamp()


def parse_until(value: str | None) -> float | None:
    """Like :func:`parse_since`, but a bare date means the end of that day, so
    ``--since 2026-11-01 --until 2026-11-30`` is the whole of November."""
    end = parse_since(value, "--until")
    if end is not None and len(value.strip()) == 10:
        end = (datetime.fromtimestamp(end) + timedelta(days=1)).timestamp()
    return end


def _open(ctx: click.Context) -> tuple[Settings, Store]:
    settings = load_or_exit(config_file_of(ctx))
    from app.core.ledger.store import StoreError, open_store

    try:
        # Read-only: a ledger on a read-only disk, or one this user may not write, still
        # reports and exports.
        return settings, open_store(settings, read_only=True)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@contextmanager
def _reading(store: Store) -> Iterator[None]:
    """Closes the store; a failure while reading it (a damaged page, a lock, a lost team
    database) is a message naming the file and the way out, exit 1, never a traceback."""
    from app.core.ledger.store import StoreError

    try:
        with store:
            yield
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


# --- report ---------------------------------------------------------------------------------


@click.command()
@click.option("--session", "session_id", type=ROW_ID, help="Only this session.")
@click.option("--since", help="Only calls from this local date/time on (YYYY-MM-DD[THH:MM]).")
@click.option("--until", help="Only calls before this local date/time; a bare date includes "
              "that whole day.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the per-tier/per-model table as CSV.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the report as one self-contained HTML page (charts inline, opens "
              "offline, prints well) to FILE.")
@click.option("--by", "by", type=click.Choice(BY_CHOICES),
              help="Split by user, host, tier, model or task type (each with its savings).")
@click.pass_context
def report(ctx: click.Context, session_id: int | None, since: str | None, until: str | None,
           as_json: bool, as_csv: bool, html_file: str | None, by: str | None) -> None:
    """Totals, savings vs always-premium, per tier/model (or --by), rates and satisfaction."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    since_ts = parse_since(since)
    until_ts = parse_until(until)
    if since_ts is not None and until_ts is not None and until_ts <= since_ts:
        raise click.BadParameter(f"{until} is not after --since {since}: the range is empty "
                                 "(swap the two dates?)", param_hint="--until")
    if by and html_file and not (as_json or as_csv):
        click.echo(f"note: --by {by} groups the text, --json and --csv output; the --html page "
                   "always shows tiers, models and task types", err=True)
    settings, store = _open(ctx)
    from app.core.ledger.reader import Ledger
    from app.core.ledger.summary import build_report, satisfaction_between

    with _reading(store):
        if session_id is not None and store.session(session_id) is None:
            click.echo(f"error: no session {session_id} (see `routedeck report` for all)",
                       err=True)
            sys.exit(1)
        where = store.location
        scope = {"session": session_id, "since": since, "since_epoch": since_ts,
                 "until": until, "until_epoch": until_ts, "by": by, "store": where}
        ledger = Ledger(store, [t.name for t in settings.tiers])
        groups = None
        if by:
            totals, groups = ledger.report(by, session_id=session_id, since=since_ts,
                                           until=until_ts)
        if as_json or html_file:
            # One builder for the JSON and the page, so the two can never disagree.
            data = {"scope": scope,
                    **build_report(store, settings, session_id, since_ts, until_ts).to_dict()}
            if groups is not None:
                data["by"] = {k: g.to_dict() for k, g in groups.items()}
        if as_csv or not (as_json or html_file):
            if not by:
                totals = ledger.totals(session_id=session_id, since=since_ts, until=until_ts)
            sat = satisfaction_between(ledger, session_id, since_ts, until_ts)
    if html_file:
        _write_html(html_file, data, ledger_files(store))
    if as_json:
        click.echo(dumps(data, indent=2))
    elif as_csv:
        click.echo(_report_csv(totals, sat, by, groups), nl=False)
    elif not html_file:
        _report_text(totals, sat, session_id, since, until, by, groups, where)


def _write_html(path: str, data: dict[str, Any], protect: list[Path]) -> None:
    from app.commands.html.report_page import render_report

    page = render_report(data)
    with atomic_text(path, protect=protect) as fh:
        fh.write(page)
    click.echo(f"wrote the savings report to {path} (one file: open it in any browser)",
               err=True)


_CSV_COLUMNS = (
    "group", "key", "calls", "ok", "errors", "spent_usd", "unpriced", "input_tokens",
    "output_tokens", "cached_input_tokens", "reasoning_tokens", "estimated_usage",
    "cache_hits", "mean_latency_s", "turns", "premium_counterfactual_usd", "savings_usd",
    "savings_pct", "cache_savings_usd", "fallback_rate", "escalation_rate", "cache_hit_rate",
    "verdicts", "satisfied", "satisfaction_rate",
)


def _report_csv(totals: Any, sat: dict[str, Any], by: str | None = None,
                groups: dict[str, Any] | None = None) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    verdicts = sum(s.verdicts for s in sat.values())
    satisfied = sum(s.satisfied for s in sat.values())
    w.writerow({
        "group": "total", "key": "all", "calls": totals.calls,
        "ok": sum(b.ok for b in totals.by_tier.values()), "errors": totals.errors,
        "spent_usd": _usd(totals.spent), "unpriced": totals.unpriced,
        "input_tokens": sum(b.input_tokens for b in totals.by_tier.values()),
        "output_tokens": sum(b.output_tokens for b in totals.by_tier.values()),
        "cached_input_tokens": sum(b.cached_input_tokens for b in totals.by_tier.values()),
        "reasoning_tokens": sum(b.reasoning_tokens for b in totals.by_tier.values()),
        "estimated_usage": totals.estimated, "cache_hits": totals.cache_hits,
        "turns": totals.turns, "premium_counterfactual_usd": _usd(totals.premium),
        "savings_usd": "" if totals.savings is None else _usd(totals.savings),
        "savings_pct": "" if totals.savings_pct is None else round(totals.savings_pct, 2),
        "cache_savings_usd": "" if totals.cache_savings is None else _usd(totals.cache_savings),
        "fallback_rate": _num(totals.fallback_rate),
        "escalation_rate": _num(totals.escalation_rate),
        "cache_hit_rate": _num(totals.cache_hit_rate),
        "verdicts": verdicts, "satisfied": satisfied,
        "satisfaction_rate": _num(satisfied / verdicts if verdicts else None),
    })
    tables = (((by, groups),) if by and groups is not None else
              (("tier", totals.by_tier), ("model", totals.by_model)))
    for group, buckets in tables:
        for key, b in buckets.items():
            row = {
                "group": group, "key": key, "calls": b.calls, "ok": b.ok, "errors": b.errors,
                "spent_usd": _usd(b.spent), "unpriced": b.unpriced,
                "input_tokens": b.input_tokens, "output_tokens": b.output_tokens,
                "cached_input_tokens": b.cached_input_tokens,
                "reasoning_tokens": b.reasoning_tokens, "estimated_usage": b.estimated,
                "cache_hits": b.cache_hits, "mean_latency_s": _num(b.mean_latency_s),
            }
            if group == by:
                row.update(turns=b.turns, premium_counterfactual_usd=_usd(b.premium),
                           savings_usd="" if b.savings is None else _usd(b.savings),
                           savings_pct="" if b.savings_pct is None else round(b.savings_pct, 2),
                           fallback_rate=_num(b.fallbacks / b.turns if b.turns else None),
                           escalation_rate=_num(b.escalations / b.turns if b.turns else None))
            s = sat.get(key) if group == "model" else None
            if s is not None:
                row.update(verdicts=s.verdicts, satisfied=s.satisfied,
                           satisfaction_rate=_num(s.rate))
            w.writerow(row)
    return buf.getvalue()


def _num(x: float | None) -> Any:
    return "" if x is None else round(x, 6)


def _usd(x: float) -> float:
    # Calls cost fractions of a cent: six places turned $0.00003585 into 3.6e-05.
    return round(x, 10)


def _report_text(totals: Any, sat: dict[str, Any], session_id: int | None,
                 since: str | None, until: str | None = None, by: str | None = None,
                 groups: dict[str, Any] | None = None, where: str = "") -> None:
    from app.core.ledger.money import format_usd

    scope = f"session {session_id}" if session_id is not None else "all sessions"
    if since:
        scope += f" since {since}"
    if until:
        scope += f" until {until}"
    click.echo(f"RouteDeck report: {scope}")
    if where:
        click.echo(f"store         {where}")
    if not totals.calls:
        if since or until or session_id is not None:
            click.echo(f"No calls in {scope}. `routedeck report` without filters shows "
                       "everything recorded.")
        else:
            click.echo("No calls recorded yet. Calls made in the console or with "
                       "`routedeck ask` are recorded here.")
        return
    click.echo(f"period        {_when(totals.first_at)} .. {_when(totals.last_at)}")
    click.echo(f"spent         {totals.spent_text}")
    premium = format_usd(totals.premium)
    if totals.premium_unpriced:
        premium = f"at least {premium}, {totals.premium_unpriced} turn(s) unpriced"
    click.echo(f"all-premium   {premium}  (counterfactual: same tokens on the top tier)")
    if totals.savings is not None:
        click.echo(f"saved         {format_usd(totals.savings)} ({totals.savings_pct:.1f}%) "
                   f"over {totals.priced_turns} fully priced turn(s)")
        if totals.cache_hits:
            routed = totals.savings - (totals.cache_savings or 0.0)
            click.echo(f"              of it {format_usd(routed)} by routing, "
                       f"{format_usd(totals.cache_savings or 0.0)} by "
                       f"{totals.cache_hits} cache hit(s)")
    else:
        click.echo("saved         ? (no fully priced turn yet)")
    click.echo(f"turns {totals.turns}   calls {totals.calls}   errors {totals.errors}   "
               f"cancelled {totals.cancelled}   truncated {totals.truncated}   "
               f"estimated usage {totals.estimated}   unpriced {totals.unpriced}")
    click.echo(f"fallback rate {_pct(totals.fallback_rate)} ({totals.fallbacks})   "
               f"escalation rate {_pct(totals.escalation_rate)} ({totals.escalations})   "
               f"cache hits {_pct(totals.cache_hit_rate)} ({totals.cache_hits})")
    if by and groups is not None:
        _groups_text(by, groups)
    for title, buckets in (() if by else (("tier", totals.by_tier), ("model", totals.by_model))):
        click.echo("")
        width = max(len(title), *(len(k) for k in buckets))
        click.echo(f"{title:<{width}}  {'calls':>7} {'errors':>6}  {'tokens in':>13} "
                   f"{'tokens out':>13}  spent")
        for key, b in buckets.items():
            click.echo(f"{key:<{width}}  {b.calls:>7,} {b.errors:>6,}  {b.input_tokens:>13,} "
                       f"{b.output_tokens:>13,}  {b.spent_text}")
    click.echo("")
    if not sat:
        click.echo("satisfaction  no verdicts yet (compare answers with ctrl+e in the console)")
        return
    width = max(5, *(len(m) for m in sat))
    click.echo(f"{'model':<{width}}  verdicts  cheap-enough  tie  premium-better  satisfied")
    for m, s in sat.items():
        click.echo(f"{m:<{width}}  {s.verdicts:>8}  {s.cheap_enough:>12}  {s.tie:>3}  "
                   f"{s.premium_better:>14}  {_pct(s.rate):>9}")


def _groups_text(by: str, groups: dict[str, Any]) -> None:
    from app.core.ledger.money import format_usd

    click.echo("")
    from app.core.routing.types import TASK_LABELS

    # Task types in the words `route` and `audit` use ("code debug/review"); --json and
    # --csv keep the ids.
    words = TASK_LABELS if by == "task" else {}
    names = {k: words.get(k, k) or "(unknown)" for k in groups}
    width = max(len(by), *(len(n) for n in names.values()))
    click.echo(f"{by:<{width}}  {'calls':>7} {'turns':>7} {'errors':>6}  {'spent':>12}  "
               f"{'all-premium':>12}  saved")
    for key, g in groups.items():
        premium = format_usd(g.premium) + ("+?" if g.premium_unpriced else "")
        saved = "?" if g.savings is None else (
            f"{format_usd(g.savings)} ({g.savings_pct:.1f}%)" if g.savings_pct is not None
            else format_usd(g.savings))
        click.echo(f"{names[key]:<{width}}  {g.calls:>7,} {g.turns:>7,} {g.errors:>6,}  "
                   f"{g.spent_text:>12}  {premium:>12}  {saved}")


# --- export ---------------------------------------------------------------------------------


@contextmanager
def _output(out: str | None, protect: list[Path], force: bool) -> Iterator[IO[str]]:
    if out is None:
        yield sys.stdout
        return
    with atomic_text(out, protect=protect, force=force) as fh:
        yield fh


@click.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write to FILE instead of stdout (written whole or not at all; never over "
              "the ledger's own database).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--labels", is_flag=True,
              help="Export verdicts as routing-data rows (for `routedeck eval`).")
@click.option("--session", "session_id", type=ROW_ID, help="Only this session.")
@click.option("--since", help="Only rows from this local date/time on.")
@click.pass_context
def export(ctx: click.Context, fmt: str, out: str | None, force: bool, labels: bool,
           session_id: int | None, since: str | None) -> None:
    """Write the requests table (or, with --labels, your verdicts) as JSON Lines or CSV."""
    since_ts = parse_since(since)
    settings, store = _open(ctx)
    with _reading(store):
        if out is not None:
            from app.commands.outfile import check_target

            check_target(Path(out), ledger_files(store), force=force)  # before any work
        if labels:
            rows, skipped = label_rows(store, settings, session_id, since_ts)
        else:
            rows, skipped = store.iter_requests(session_id=session_id, since=since_ts), {}
        with _output(out, ledger_files(store), force) as fh:
            n = _write_rows(fh, rows, fmt)
    what = "label" if labels else "request"
    if out is not None:
        click.echo(f"wrote {n} {what} row(s) to {out}", err=True)
    if skipped.get("hash_only"):
        click.echo(f"skipped {skipped['hash_only']} verdict(s) whose prompt is stored as a "
                   "hash only ([privacy] store_prompts = false)", err=True)
    if skipped.get("deleted"):
        click.echo(f"skipped {skipped['deleted']} verdict(s) whose prompt went with its "
                   "deleted session (the verdict still counts in `report`)", err=True)
    if not n:
        click.echo("nothing to export: " + (
            "no verdicts stored yet (judge answers with ctrl+e in the console, or "
            "`routedeck compare FILE` then `routedeck review`)" if labels else
            "no calls recorded in this scope"), err=True)


def _write_rows(fh: IO[str], rows: Any, fmt: str) -> int:
    n = 0
    writer: csv.DictWriter | None = None
    for row in rows:
        if fmt == "jsonl":
            fh.write(dumps(row) + "\n")
        else:
            flat = {k: dumps(v) if isinstance(v, dict | list) else cleaned(v)
                    for k, v in row.items()}
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(flat), lineterminator="\n")
                writer.writeheader()
            writer.writerow(flat)
        n += 1
    return n
