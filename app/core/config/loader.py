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

from app.core.config import paths
from app.core.config.errors import ConfigError, Problem, problems_from_validation
from app.core.config.settings import FileSource, Settings


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML config file; raises ConfigError with a readable message."""
    try:
        raw = path.read_bytes()
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
    finally:
        FileSource.data = {}


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
