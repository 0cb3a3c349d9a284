"""``routedeck`` with no subcommand: check the flags, open the session, run the console."""

from __future__ import annotations

import sys
from pathlib import Path

from app.core.config.settings import Settings
from app.core.conversation.session import ConsoleSession, SessionError

EXIT_USAGE = 2


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
            _fail(f"--play {play_file}: no prompts found (one per line, or JSONL with a 'prompt' field)")
        playback = Playback(prompts, settings.ui.play_delay_s)
    try:
        session = ConsoleSession(settings, pin_tier=pin_tier)
    except SessionError as exc:
        _fail(str(exc))
    try:
        session.open(session_id)
    except SessionError as exc:
        session.close()
        _fail(f"--session: {exc}")
    from app.tui.app import RouteDeckApp

    app = RouteDeckApp(session, playback=playback, startup_problems=problems[:5])
    try:
        app.run()
    finally:
        session.close()
