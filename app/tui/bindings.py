"""Every key of the console, each with a binding id that ``[keymap]`` can remap.

``[keymap]`` maps a binding id to one key or a comma-separated list, e.g. ``pin_tier =
"ctrl+g"``. ``[ui] newline_key`` is the same as ``[keymap] newline`` (the keymap wins).
Escalate and the turn selection keys are priority bindings: the prompt (a TextArea) has
its own Ctrl+E and Up/Down, and the app's ``check_action`` lets those keys through whenever
the action does not apply (another screen is open, or the prompt holds text).
"""

from __future__ import annotations

from textual.binding import Binding

from app.core.config.settings import Settings
from app.tui.widgets.prompt import PromptInput

APP_BINDINGS: list[Binding] = [
    Binding("escape", "cancel_turn", "Cancel", id="cancel"),
    Binding("ctrl+e", "escalate", "Escalate", id="escalate", priority=True),
    Binding("up", "select_turn(-1)", "Select earlier answer", id="select_prev", show=False,
            priority=True),
    Binding("down", "select_turn(1)", "Select later answer", id="select_next", show=False,
            priority=True),
    Binding("ctrl+t", "cycle_pin", "Pin tier", id="pin_tier"),
    Binding("ctrl+f", "force_premium", "Premium next", id="force_premium"),
    Binding("ctrl+o", "copy_answer", "Copy", id="copy_answer"),
    Binding("f2", "ledger_details", "Ledger", id="ledger_details"),
    Binding("ctrl+n", "new_session", "New session", id="new_session", show=False),
    Binding("ctrl+r", "resume_session", "Resume", id="resume_session", show=False),
    Binding("f5", "toggle_play", "Pause/play", id="play_pause"),
    Binding("f1", "help", "Help", id="help"),
    Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
]

# What each id does, for the help screen and for keymap errors.
DESCRIPTIONS: dict[str, str] = {
    "send": "send the prompt",
    "newline": "new line in the prompt",
    "cancel": "cancel the running answer",
    "escalate": "compare the selected/last answer with the next tier up",
    "select_prev": "prompt empty: select an earlier answer to compare",
    "select_next": "prompt empty: select a later answer (past the last: none)",
    "pin_tier": "pin the session's tier: auto → cheapest → … → premium",
    "force_premium": "force the premium tier for the next prompt",
    "copy_answer": "copy the last answer to the clipboard",
    "ledger_details": "ledger details: per-model table and cost chart",
    "new_session": "start a new session",
    "resume_session": "resume a stored session",
    "play_pause": "pause / resume demo playback",
    "help": "this help",
    "quit": "quit",
}


def all_bindings() -> list[Binding]:
    return [*PromptInput.BINDINGS, *APP_BINDINGS]  # type: ignore[list-item]


def build_keymap(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """(keymap for App.set_keymap, problems). Unknown binding ids are reported, not applied."""
    keymap = {"newline": settings.ui.newline_key}
    problems: list[str] = []
    for binding_id, keys in settings.keymap.items():
        if binding_id not in DESCRIPTIONS:
            problems.append(f"[keymap] {binding_id}: no such binding "
                            f"(known: {', '.join(sorted(DESCRIPTIONS))})")
            continue
        if not keys.strip():
            problems.append(f"[keymap] {binding_id}: empty key")
            continue
        keymap[binding_id] = keys
    return keymap, problems


def key_for(binding_id: str, keymap: dict[str, str]) -> str:
    """The key(s) a binding id answers to, after the keymap."""
    if binding_id in keymap:
        return keymap[binding_id]
    for b in all_bindings():
        if b.id == binding_id:
            return b.key
    return "?"
