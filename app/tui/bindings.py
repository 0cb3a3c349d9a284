"""Every key of the console, each with a binding id that ``[keymap]`` can remap.

``[keymap]`` maps a binding id to one key or a comma-separated list, e.g. ``pin_tier =
"ctrl+g"``. ``[ui] newline_key`` is the same as ``[keymap] newline`` (the keymap wins).

One scheme for the arrow keys, like a shell: with the prompt empty (or while stepping
through earlier prompts) Up and Down recall earlier prompts; Ctrl+Up and Ctrl+Down select an
earlier or later answer (for compare and copy); Ctrl+R searches every prompt sent before.
Escalate, history and selection are priority bindings: the prompt (a TextArea) has its own
Ctrl+E and Up/Down, and the app's ``check_action`` lets those keys through whenever the
action does not apply (another screen is open, or the prompt holds text being edited).
"""

from __future__ import annotations

from textual.binding import Binding

from app.core.config.settings import Settings
from app.tui.widgets.prompt import PromptInput

APP_BINDINGS: list[Binding] = [
    # The footer lists keys in this order, so the ones that must fit in 80 columns come first.
    Binding("escape", "cancel_turn", "Cancel", id="cancel"),
    Binding("ctrl+e", "escalate", "Escalate", id="escalate", priority=True),
    Binding("f1", "help", "Help", id="help"),
    Binding("f2", "ledger_details", "Ledger", id="ledger_details"),
    Binding("ctrl+t", "cycle_pin", "Pin tier", id="pin_tier"),
    Binding("f3", "toggle_panels", "Panels", id="toggle_panels"),
    Binding("up", "history(-1)", "Earlier prompt", id="history_prev", show=False,
            priority=True),
    Binding("down", "history(1)", "Later prompt", id="history_next", show=False,
            priority=True),
    Binding("ctrl+r", "search_history", "Search prompts", id="search_history", show=False,
            priority=True),
    Binding("ctrl+up", "select_turn(-1)", "Select earlier answer", id="select_prev",
            show=False, priority=True),
    Binding("ctrl+down", "select_turn(1)", "Select later answer", id="select_next",
            show=False, priority=True),
    Binding("ctrl+f", "force_premium", "Premium next", id="force_premium", show=False),
    Binding("ctrl+o", "copy_answer", "Copy", id="copy_answer", show=False),
    Binding("ctrl+g", "regenerate", "Regenerate", id="regenerate", show=False),
    Binding("ctrl+l", "edit_last", "Edit last prompt", id="edit_last", show=False),
    Binding("f4", "sessions", "Sessions", id="sessions", show=False),
    Binding("ctrl+n", "new_session", "New session", id="new_session", show=False),
    Binding("f5", "toggle_play", "Pause/play", id="play_pause"),
    Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
]

# What each id does, for the help screen and for keymap errors.
DESCRIPTIONS: dict[str, str] = {
    "send": "send the prompt",
    "newline": "new line in the prompt",
    "cancel": "cancel the running answer",
    "escalate": "compare the selected/last answer with the next tier up",
    "history_prev": "prompt empty: recall an earlier prompt (keep pressing for older)",
    "history_next": "step back to later prompts (past the newest: empty again)",
    "search_history": "search every prompt sent before, in all sessions",
    "select_prev": "select an earlier answer (to compare or copy)",
    "select_next": "select a later answer (past the last: none)",
    "pin_tier": "pin the session's tier: auto → cheapest → … → premium",
    "force_premium": "force the premium tier for the next prompt",
    "copy_answer": "copy the selected (or last) answer to the clipboard",
    "regenerate": "ask the last prompt again; the new answer replaces the last one",
    "edit_last": "put the last prompt back in the input; sending replaces that turn",
    "ledger_details": "ledger details: per-model table and cost chart",
    "toggle_panels": "show or hide the decision and ledger panels",
    "sessions": "stored sessions: resume, rename, delete",
    "new_session": "start a new session",
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
