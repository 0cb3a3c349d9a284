"""Reading the configuration: the TOML file, then the environment and CLI overrides on top,
with every mistake turned into a :class:`~app.core.config.errors.ConfigError` naming its key
and its fix."""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from app.core.config import paths
from app.core.config.errors import ConfigError, Problem, problems_from_validation
from app.core.config.settings import FileSource, Settings

MAX_CONFIG_BYTES = 4 << 20


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; raises ConfigError with a readable message."""
    try:
        with path.open("rb") as fh:  # bounded: --config /dev/zero must not fill the memory
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            path,
            [Problem("(file)", f"{path} does not exist",
                     "create it with `routedeck config init`, or pass an existing file with --config")],
        ) from None
    except OSError as exc:
        raise ConfigError(
            path,
            [Problem("(file)", f"{path} cannot be read ({exc.strerror})",
                     "check the path and its permissions")],
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, [Problem("(file)", f"{path} is larger than "
                                         f"{MAX_CONFIG_BYTES >> 20} MiB, which no config is",
                                         "pass the RouteDeck config file with --config")])
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path,
            [Problem("(file)", f"the file is not valid UTF-8 (byte {exc.start})",
                     "save the file as UTF-8 text")],
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            path,
            [Problem("(syntax)", f"TOML syntax error: {_toml_words(str(exc))}",
                     "fix the line named above; strings need quotes, tables [name], arrays [a, b]")],
        ) from None


def _toml_words(message: str) -> str:
    """tomllib's message with its Python tuples as TOML tables: "Cannot declare ('router',)
    twice" is said of an unclosed or repeated [router]."""
    def table(m: re.Match) -> str:
        return "[" + ".".join(p.strip().strip("'\"") for p in m.group(1).split(",") if p.strip()) + "]"

    words = re.sub(r"\(((?:'[^']*',?\s*)+)\)", table, message)
    if words.startswith("Cannot declare") and words != message:
        words += " (a table header left unclosed, or the same table declared twice)"
    return words


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, the config file, the environment and CLI overrides.

    Raises :class:`app.core.config.errors.ConfigError` with one Problem per mistake.
    """
    path = paths.resolve_config_file(config_file)
    data = read_toml(path) if path is not None else {}
    FileSource.data = data
    try:
        settings = Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(path, problems_from_validation(exc, data)) from None
    except SettingsError as exc:
        # pydantic-settings could not parse a variable's JSON (ROUTEDECK_ROUTER__THRESHOLDS
        # = "[0.2,"): name the variable and the fix, never the value (it may be a secret).
        raise ConfigError(path, env_problems(str(exc))) from None
    finally:
        FileSource.data = {}
    stray = stray_variables(settings)
    if stray:
        raise ConfigError(path, stray)
    return settings


# ROUTEDECK_* variables that are not settings (paths; the default PostgreSQL password; the
# switches of the router's compiled build, read by setup.py and app/core/routing/compiled.py).
_NOT_SETTINGS = frozenset(("ROUTEDECK_CONFIG", "ROUTEDECK_HOME", "ROUTEDECK_PG_PASSWORD",
                           "ROUTEDECK_PURE_PYTHON", "ROUTEDECK_NO_COMPILE"))


def stray_variables(settings: Settings) -> list[Problem]:
    """ROUTEDECK_* variables that set nothing: pydantic-settings ignores a variable whose
    first part is not a section ("ROUTEDECK_BUGDET__SESSION_USD", or a single underscore
    in "ROUTEDECK_BUDGET_SESSION_USD"), so a typo would silently leave a cap unset."""
    sections = list(Settings.model_fields)
    candidates = [n for n in sorted(os.environ) if n.upper().startswith("ROUTEDECK_")
                  and n.upper() not in _NOT_SETTINGS
                  and n.upper().removeprefix("ROUTEDECK_").split("__", 1)[0].lower()
                  not in sections]
    if not candidates:
        return []
    named = {v for v in _env_names(settings.model_dump()) if v}
    out = []
    for name in candidates:
        if name in named:
            continue
        upper = name.upper()
        first = upper.removeprefix("ROUTEDECK_").split("__", 1)[0].lower()
        guess = next((f"ROUTEDECK_{sec.upper()}__{first[len(sec) + 1:].upper()}"
                      for sec in sections if first.startswith(sec + "_")), "")
        close = difflib.get_close_matches(first, sections, n=1)
        rest = upper.split("__", 1)[1] if "__" in upper else "KEY"
        hint = (f"did you mean {guess}? " if guess else
                f"did you mean ROUTEDECK_{close[0].upper()}__{rest}? " if close else "")
        out.append(Problem(f"${name}", "not a setting (ROUTEDECK_SECTION__KEY, two "
                           "underscores between the section and the key)",
                           f"{hint}rename or unset it (sections: {', '.join(sections)})"))
    return out


def _env_names(data: Any) -> list[str]:
    """Every value of a *_env key in the settings: variables a setting names (keys,
    passwords, headers), which may well start with ROUTEDECK_."""
    if isinstance(data, dict):
        out = [v for k, v in data.items() if str(k).endswith("_env") and isinstance(v, str)]
        for v in data.values():
            out += _env_names(v)
        return out
    if isinstance(data, list):
        return [n for v in data for n in _env_names(v)]
    return []


def env_problems(detail: str) -> list[Problem]:
    """The ROUTEDECK_* variables whose value should be JSON and is not."""
    field = re.search(r'field "([^"]+)"', detail)
    prefix = f"ROUTEDECK_{field.group(1)}".upper() if field else "ROUTEDECK_"
    under = {n: v for n, v in os.environ.items()
             if n.upper() == prefix or n.upper().startswith(prefix + "__")}
    names = sorted(n for n, v in under.items() if _bad_json(v))
    if not names:  # "0.5,0.7" or "abc" for a list: not JSON, and not even trying to be
        names = sorted(n for n, v in under.items() if _holds_json(n) and not _json_ok(v))
    if not names:
        names = sorted(under) or [prefix + "__..."]
    return [Problem(f"${name}", "the value is not valid JSON (lists and tables in a variable "
                    "are written as JSON)",
                    f"write e.g. {name}='{_json_example(name)}', or unset it") for name in names]


def _json_example(name: str) -> str:
    upper = name.upper()
    if upper.endswith("THRESHOLDS"):
        return "[0.2]"
    if upper.endswith("KEYWORDS"):
        return '["urgent", "legal"]'
    return '[...] for a list or {"key": 1} for a table'



def _holds_json(name: str) -> bool:
    """The variable sets a list or table (pydantic-settings reads its value as JSON)."""
    import types
    import typing

    from pydantic import BaseModel

    current: Any = Settings
    for part in name.upper().removeprefix("ROUTEDECK_").lower().split("__"):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return True  # inside a list or a table: JSON there too
        field = current.model_fields.get(part)
        if field is None:
            return False
        current = field.annotation
        args = [a for a in typing.get_args(current) if a is not type(None)]
        if typing.get_origin(current) in (typing.Union, types.UnionType) and len(args) == 1:
            current = args[0]
    return typing.get_origin(current) in (list, dict, tuple, set) or (
        isinstance(current, type) and issubclass(current, BaseModel))


def _json_ok(value: str) -> bool:
    import json

    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _bad_json(value: str) -> bool:
    import json

    if not value.strip().startswith(("[", "{")):
        return False
    try:
        json.loads(value)
    except ValueError:
        return True
    return False


# A key-shaped token ("sk-...", but not "task-model") or an api_key line, even commented out.
_LITERAL_KEY = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{6,}|^\s*#?\s*api_key\s*=", re.M)


def permission_warnings(path: Path | None) -> list[str]:
    """A config holding a literal key must not be readable by others."""
    if path is None or not path.is_file() or os.name != "posix":
        return []
    try:
        text = path.read_text("utf-8", errors="replace")
        mode = path.stat().st_mode
    except OSError:
        return []  # unreadable: loading it reports that, with the fix
    looks_secret = _LITERAL_KEY.search(text) is not None
    if looks_secret and mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} seems to hold a literal API key and is readable by group/others; "
                f"run `chmod 600 {path}` or move the key to an environment variable"]
    return []
