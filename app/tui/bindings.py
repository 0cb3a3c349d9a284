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

from app.core.config.keys import BINDINGS, keymap_of
from app.core.config.settings import Settings
from app.tui.widgets.prompt import PromptInput


def _key(binding_id: str) -> str:
    return BINDINGS[binding_id][0]


APP_BINDINGS: list[Binding] = [
    # The footer lists keys in this order, so the ones that must fit in 80 columns come first.
    Binding(_key("cancel"), "cancel_turn", "Stop", id="cancel"),
    Binding(_key("escalate"), "escalate", "Escalate", id="escalate", priority=True),
    Binding(_key("help"), "help", "Help", id="help"),
    Binding(_key("ledger_details"), "ledger_details", "Ledger", id="ledger_details"),
    # Before Pin tier: at 80 columns F3 is the only way to the panels, and the last to fit.
    Binding(_key("toggle_panels"), "toggle_panels", "Panels", id="toggle_panels"),
    Binding(_key("pin_tier"), "cycle_pin", "Pin tier", id="pin_tier"),
    Binding(_key("history_prev"), "history(-1)", "Earlier prompt", id="history_prev",
            show=False, priority=True),
    Binding(_key("history_next"), "history(1)", "Later prompt", id="history_next",
            show=False, priority=True),
    Binding(_key("search_history"), "search_history", "Search prompts", id="search_history",
            show=False, priority=True),
    Binding(_key("select_prev"), "select_turn(-1)", "Select earlier answer", id="select_prev",
            show=False, priority=True),
    Binding(_key("select_next"), "select_turn(1)", "Select later answer", id="select_next",
            show=False, priority=True),
    Binding(_key("force_premium"), "force_premium", "Premium next", id="force_premium",
            show=False),
    Binding(_key("copy_answer"), "copy_answer", "Copy", id="copy_answer", show=False),
    Binding(_key("regenerate"), "regenerate", "Regenerate", id="regenerate", show=False),
    Binding(_key("edit_last"), "edit_last", "Edit last prompt", id="edit_last", show=False),
    Binding(_key("sessions"), "sessions", "Sessions", id="sessions", show=False),
    Binding(_key("new_session"), "new_session", "New session", id="new_session", show=False),
    # Not in the footer (80 columns have no room to spare): the header names it in a demo.
    Binding(_key("play_pause"), "toggle_play", "Pause/play", id="play_pause", show=False),
    Binding(_key("quit"), "quit", "Quit", id="quit", priority=True),
]


def all_bindings() -> list[Binding]:
    return [*PromptInput.BINDINGS, *APP_BINDINGS]  # type: ignore[list-item]


def build_keymap(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """(keymap for App.set_keymap, problems in the words `config check` uses). Entries that
    cannot work are reported, not applied."""
    keymap, problems = keymap_of(settings.keymap, settings.ui.newline_key)
    return keymap, [p.render() for p in problems]


def key_for(binding_id: str, keymap: dict[str, str]) -> str:
    """The key(s) a binding id answers to, after the keymap."""
    if binding_id in keymap:
        return keymap[binding_id]
    for b in all_bindings():
        if b.id == binding_id:
            return b.key
    return "?"
