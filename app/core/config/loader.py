"""Reading the configuration: the TOML file, then the environment and CLI overrides on top,
with every mistake turned into a :class:`~app.core.config.errors.ConfigError` naming its key
and its fix."""

from __future__ import annotations

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
            [Problem("(syntax)", f"TOML syntax error: {exc}",
                     "fix the line named above; strings need quotes, tables [name], arrays [a, b]")],
        ) from None


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
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(path, problems_from_validation(exc, data)) from None
    except SettingsError as exc:
        # pydantic-settings could not parse a variable's JSON (ROUTEDECK_ROUTER__THRESHOLDS
        # = "[0.2,"): name the variable and the fix, never the value (it may be a secret).
        raise ConfigError(path, env_problems(str(exc))) from None
    finally:
        FileSource.data = {}


def env_problems(detail: str) -> list[Problem]:
    """The ROUTEDECK_* variables whose value should be JSON and is not."""
    field = re.search(r'field "([^"]+)"', detail)
    prefix = f"ROUTEDECK_{field.group(1)}".upper() if field else "ROUTEDECK_"
    names = sorted(n for n, v in os.environ.items()
                   if n.upper().startswith(prefix) and _bad_json(v))
    if not names:
        names = [prefix + "__..."]
    return [Problem(f"${name}", "the value is not valid JSON (lists and tables in a variable "
                    "are written as JSON)",
                    f"write e.g. {name}='[0.2]' for a list or '{{\"key\": 1}}' for a table, or "
                    "unset it") for name in names]


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
