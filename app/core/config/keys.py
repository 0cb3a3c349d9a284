"""The console's binding ids and default keys, and the checks on ``[keymap]``.

They live with the configuration, not the console, because ``[keymap]`` and ``[ui]
newline_key`` are part of the config file's contract: ``config check`` must refuse a binding
id that does not exist, a key name no terminal sends and two actions on one key, with the
same words the console uses when it starts. The console builds its bindings from this table.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from app.core.config.errors import Problem, env_variable

# id -> (default key, what it does), in the help screen's order (the footer's is the
# console's binding list).
BINDINGS: dict[str, tuple[str, str]] = {
    "send": ("enter", "send the prompt"),
    "newline": ("ctrl+j", "new line in the prompt"),
    "cancel": ("escape", "cancel the running answer"),
    "escalate": ("ctrl+e", "compare the selected/last answer with the next tier up"),
    "history_prev": ("up", "prompt empty: recall an earlier prompt (keep pressing for older)"),
    "history_next": ("down", "step back to later prompts (past the newest: empty again)"),
    "search_history": ("ctrl+r", "search every prompt sent before, in all sessions"),
    "select_prev": ("ctrl+up", "select an earlier answer (to compare or copy)"),
    "select_next": ("ctrl+down", "select a later answer (past the last: none)"),
    "pin_tier": ("ctrl+t", "pin the session's tier: auto → cheapest → … → premium"),
    "force_premium": ("ctrl+f", "force the premium tier for the next prompt"),
    "copy_answer": ("ctrl+o", "copy the selected (or last) answer to the clipboard"),
    "regenerate": ("ctrl+g", "ask the last prompt again; the new answer replaces the last one"),
    "edit_last": ("ctrl+l", "put the last prompt back in the input; sending replaces that turn"),
    "ledger_details": ("f2", "ledger details: per-model table and cost chart"),
    "toggle_panels": ("f3", "show or hide the decision and ledger panels"),
    "sessions": ("f4", "stored sessions: resume, rename, delete"),
    "new_session": ("ctrl+n", "start a new session"),
    "play_pause": ("f5", "pause / resume demo playback"),
    "help": ("f1", "this help"),
    "quit": ("ctrl+q", "quit"),
}
DESCRIPTIONS: dict[str, str] = {k: d for k, (_, d) in BINDINGS.items()}
PALETTE = "the command palette"

_MODIFIERS = frozenset(("ctrl", "shift", "alt", "meta", "super", "hyper"))
# Key names a terminal sends (Textual's names), besides any single character.
_NAMED = frozenset((
    "enter", "escape", "tab", "backspace", "delete", "insert", "home", "end", "pageup",
    "pagedown", "up", "down", "left", "right", "space", *(f"f{i}" for i in range(1, 25)),
    "minus", "plus", "comma", "full_stop", "slash", "backslash", "underscore", "equals_sign",
    "colon", "semicolon", "question_mark", "exclamation_mark", "apostrophe", "quotation_mark",
    "number_sign", "dollar_sign", "percent_sign", "ampersand", "asterisk", "at", "tilde",
    "left_parenthesis", "right_parenthesis", "left_square_bracket", "right_square_bracket",
    "left_curly_bracket", "right_curly_bracket", "less_than_sign", "greater_than_sign",
    "circumflex_accent", "grave_accent", "vertical_line"))


def bad_key(key: str) -> str:
    """Why ``key`` ("ctrl+t", "f5", "?") is not a key a terminal can send, or ''."""
    key = key.strip()
    if len(key) > 1 and key != key.lower():
        return f"key names are written in lower case ('{key.lower()}')"
    *mods, name = key.split("+")
    unknown = [m for m in mods if m not in _MODIFIERS]
    if unknown:
        return f"'{unknown[0]}' is not a modifier (ctrl, shift, alt, meta)"
    if len(name) == 1 or name in _NAMED:
        return ""
    close = difflib.get_close_matches(name, sorted(_NAMED), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"'{name}' is not a key name{hint}: use one character or a name like f5, escape, up"


def keymap_of(keymap: dict[str, str], newline_key: str) -> tuple[dict[str, str], list[Problem]]:
    """(binding id -> keys as the console applies them, problems). Entries with an unknown id,
    no key or a key name no terminal sends are left out (the default key stays); two actions
    on one key are reported (only one of them can answer it)."""
    applied: dict[str, str] = {}
    source: dict[str, str] = {}  # binding id -> the config key that set it
    problems: list[Problem] = []

    def take(where: str, binding_id: str, keys: str) -> None:
        if not keys.strip():
            problems.append(Problem(where, "no key given",
                                    f"write a key, e.g. {binding_id} = "
                                    f'"{BINDINGS[binding_id][0]}", or remove the line'))
            return
        for key in keys.split(","):
            why = bad_key(key)
            if why:
                problems.append(Problem(where, f"{key.strip()!r}: {why}",
                                        "write a key such as \"ctrl+y\", \"f6\" or \"?\" "
                                        "(several: comma-separated)"))
                return
        applied[binding_id] = keys
        source[binding_id] = where

    if newline_key != BINDINGS["newline"][0]:
        take("ui.newline_key", "newline", newline_key)
    for binding_id, keys in keymap.items():
        where = f"keymap.{binding_id}"
        if binding_id not in BINDINGS:
            close = difflib.get_close_matches(binding_id, list(BINDINGS), n=1)
            fix = f"did you mean '{close[0]}'? " if close else ""
            problems.append(Problem(where, "no such binding",
                                    f"{fix}use one of: {', '.join(BINDINGS)}"))
            continue
        take(where, binding_id, keys)
    # Textual's command palette answers ctrl+p and cannot be remapped here.
    owner: dict[str, str] = {"ctrl+p": PALETTE}
    for binding_id, (default, _) in BINDINGS.items():
        for key in applied.get(binding_id, default).split(","):
            key = key.strip().lower()
            first = owner.setdefault(key, binding_id)
            if first != binding_id:
                # Name the line the user wrote (the remapped one), not the untouched default.
                moved, other = ((binding_id, first) if binding_id in applied or first == PALETTE
                                else (first, binding_id))
                fix = (f"give {moved} another key ({key} opens {PALETTE})" if other == PALETTE
                       else f"give {moved} or {other} another key in [keymap] (one key, one "
                       "action)")
                problems.append(Problem(source.get(moved, f"keymap.{moved}"),
                                        f"'{key}' is also the key of {other}", fix))
    # A ROUTEDECK_KEYMAP__* or ROUTEDECK_UI__NEWLINE_KEY variable wins over the file: say so.
    return applied, [replace(p, variable=env_variable(tuple(p.key.split(".")))) for p in problems]
