"""``routedeck`` with no subcommand: check the flags, open the session, run the console."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.core.config.settings import Settings
from app.core.conversation.session import ConsoleSession, SessionError
from app.core.textsafe import inert

EXIT_USAGE = 2

# Textual makes and drops many small containers every frame (strips and their caches, content
# spans). With CPython's default collector thresholds (700, 10, 10) one streamed 4,000-token
# answer set off ~19 full collections of 60-160 ms each: the console's longest pauses (render
# lag max 118-194 ms, keys up to 169 ms, the final render 150-200 ms late in 4 runs of 10). A
# young generation of 10,000 objects leaves 2-3 full collections per such answer (render lag
# max mostly 28-52 ms, keys under 36 ms; bench_tui_stream). A larger young generation makes the
# young collections the long pauses (50,000: up to 69 ms), and rarer full collections let the
# widgets of evicted turns pile up (500 turns: 530 MB with (10,000, 10, 100), 174 MB with
# these, flat after 150 turns; 108 MB with the defaults; bench_tui_session).
GC_THRESHOLDS = (10_000, 10, 10)


def tune_collector() -> None:
    """Collector thresholds for an interactive console (see GC_THRESHOLDS)."""
    gc.set_threshold(*GC_THRESHOLDS)


def _fail(message: str) -> None:
    sys.stderr.write(f"routedeck: {message}\n")
    sys.exit(EXIT_USAGE)


def run_console(
    settings: Settings,
    *,
    config_file: str | None = None,
    session_id: int | None = None,
    pin_tier: str | None = None,
    play_file: str | None = None,
) -> None:
    """Start the console. Bad --tier/--session/--play give a message and exit code 2."""
    playback = None
    problems: list[str] = []
    if play_file is not None:
        from app.tui.playback import Playback, load_prompts

        try:
            prompts, problems = load_prompts(Path(play_file))
        except OSError as exc:
            _fail(f"--play {play_file}: cannot be read ({exc.strerror})")
        if not prompts:
            why = f" ({'; '.join(problems[:3])})" if problems else ""
            _fail(f"--play {play_file}: no prompts found (one per line, or JSONL with a 'prompt' "
                  f"field){why}")
        playback = Playback(prompts, settings.ui.play_delay_s)
    try:
        session = ConsoleSession(settings, pin_tier=pin_tier)
    except SessionError as exc:
        _fail(str(exc))
    session.marks_presence = True
    try:
        session.open(session_id)
    except SessionError as exc:
        session.close()
        _fail(f"--session: {exc}")
    from app.tui.app import RouteDeckApp

    app = RouteDeckApp(session, playback=playback, startup_problems=problems[:5])
    tune_collector()
    caught: list[int] = []
    previous = _exit_on_signals(app, caught)
    _end_with_parent()
    try:
        app.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        session.close()
        # Rows the ledger refused until the end: kept for the next run, or lost. Said here,
        # on the restored terminal, since the console is gone.
        outcome = session.services.write_outcome
        if outcome is not None and outcome.summary():
            head = "error" if outcome.lost else "warning"
            sys.stderr.write(inert(f"routedeck: {head}: {outcome.summary()}") + "\n")
    if caught:
        sys.exit(128 + caught[0])


def _end_with_parent(poll_s: float = 1.0, grace_s: float = 5.0) -> None:
    """Under `routedeck serve` (Textual's web driver, over pipes) the console ends when its
    server does: killed or stopped, the server left it running on, orphaned, holding the
    ledger open. A stuck console is ended after ``grace_s``."""
    if "web_driver" not in os.environ.get("TEXTUAL_DRIVER", ""):
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)  # quits the way SIGTERM does (see below)
        time.sleep(grace_s)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="routedeck-parent-watch", daemon=True).start()


def _exit_on_signals(app: Any, caught: list[int]) -> dict[int, Any]:
    """SIGTERM and SIGHUP end the console the way quitting does, so Textual restores the
    terminal (alternate screen off, mouse reporting off, cursor shown) before the process
    ends; the default action would kill it with the terminal left in application mode."""

    def handler(signum: int, frame: Any) -> None:
        caught.append(signum)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the console is not running yet (or any more): nothing to undo
            raise SystemExit(128 + signum) from None
        # Thread-safe wake-up of the loop: the handler may interrupt it anywhere.
        loop.call_soon_threadsafe(app.exit)

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)
    return previous
