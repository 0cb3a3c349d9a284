"""Colour themes from TOML files, validated and turned into Textual themes.

Where themes come from, later wins on equal names:
1. ``themes/`` at the repository top level (an editable install or a source checkout),
2. ``<user config dir>/themes/`` (``$ROUTEDECK_HOME/config/themes`` in tests and demos).

A theme file holds Textual's colour keys plus a ``[variables]`` table; RouteDeck reads its own
variables (tier colours, cost warning, savings) in app.tcss and in panel markup. Every invalid
file is collected into one list so the app can report them all in a single toast.

The palette's theme choice persists in ``<data dir>/tui-state.json`` (not in the config, so
the user's commented config file is never rewritten). It records the config's ``[ui] theme``
at the time of the choice: when the user later edits the config to a different theme, the
config wins again, because an explicit edit is the newer decision.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from app.core.config import paths

FALLBACK_DARK = "textual-dark"
FALLBACK_LIGHT = "textual-light"

# RouteDeck's own theme variables and the values used when a theme does not set them
# (Textual's built-in themes, or a user theme that only sets the basics).
VARIABLE_DEFAULTS: dict[str, str] = {
    "rd-tier-cheap": "#4EBF71",
    "rd-tier-mid": "#E0B040",
    "rd-tier-premium": "#B48EF0",
    "rd-cost-warning": "#F0A030",
    "rd-savings": "#4EBF71",
}

_COLOUR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent",
                "foreground", "background", "surface", "panel", "boost")
_OTHER_KEYS = {"name", "dark", "luminosity_spread", "text_alpha", "variables", "description"}


@dataclass(frozen=True)
class ThemeProblem:
    path: Path
    message: str

    def render(self) -> str:
        return f"{self.path.name}: {self.message}"


def theme_dirs() -> list[Path]:
    return paths.theme_dirs()


def _colour(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a colour string like \"#4EBF71\"")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"'{key}' = {value!r} is not a colour (use #RRGGBB or a colour name)") from None
    return value


def theme_from_data(data: dict[str, object], fallback_name: str) -> Theme:
    """A Textual Theme from parsed TOML; ValueError names the first bad key and the fix."""
    unknown = sorted(set(data) - set(_COLOUR_KEYS) - _OTHER_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join((*_COLOUR_KEYS, *sorted(_OTHER_KEYS)))}")
    name = data.get("name", fallback_name)
    if not isinstance(name, str) or not name.strip():
        raise ValueError("'name' must be a non-empty string")
    if "primary" not in data:
        raise ValueError("'primary' colour is required")
    colours = {k: _colour(data[k], k) for k in _COLOUR_KEYS if k in data}
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("'dark' must be true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ValueError("[variables] must be a table of name = \"colour or value\"")
    clean_vars: dict[str, str] = {}
    for key, value in variables.items():
        if key in VARIABLE_DEFAULTS:
            clean_vars[key] = _colour(value, f"variables.{key}")
        elif isinstance(value, str):
            clean_vars[key] = value
        else:
            raise ValueError(f"variables.{key} must be a string")
    extra: dict[str, float] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"'{key}' must be a number")
            extra[key] = float(value)
    return Theme(name=name.strip(), dark=dark, variables=clean_vars, **colours, **extra)


def load_themes(dirs: list[Path] | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every valid theme in ``dirs`` and one problem per invalid file."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for directory in dirs if dirs is not None else theme_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                theme = theme_from_data(data, path.stem)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(ThemeProblem(path, f"cannot be read ({exc})"))
                continue
            except tomllib.TOMLDecodeError as exc:
                problems.append(ThemeProblem(path, f"TOML syntax error: {exc}"))
                continue
            except (ValueError, TypeError) as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


# --- the persisted choice -------------------------------------------------------------------
def state_file() -> Path:
    return paths.data_dir() / "tui-state.json"


def _read_state() -> dict[str, object]:
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def chosen_theme(config_theme: str) -> str:
    """The theme to start with: the last palette choice, unless the config changed since."""
    state = _read_state()
    saved = state.get("theme")
    if isinstance(saved, str) and state.get("config_theme") == config_theme:
        return saved
    return config_theme


def save_theme(theme: str, config_theme: str) -> bool:
    """Remember the palette's choice; False if the data dir is not writable."""
    state = _read_state()
    state.update(theme=theme, config_theme=config_theme)
    path = state_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return False
    return True
