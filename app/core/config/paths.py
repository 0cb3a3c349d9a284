"""Where RouteDeck keeps its files.

``ROUTEDECK_HOME`` redirects everything (config, data, cache) under one directory, which is
what tests and throwaway demos use; otherwise the platform's conventional user dirs apply.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "routedeck"


def _home() -> Path | None:
    home = os.environ.get("ROUTEDECK_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    home = _home()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    home = _home()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    home = _home()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    return config_dir() / "config.toml"


def config_search_path(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """Every place a config file is looked for, in order, with where the location came from."""
    places: list[tuple[str, Path]] = []
    if explicit:
        places.append(("--config", Path(explicit).expanduser()))
    env = os.environ.get("ROUTEDECK_CONFIG")
    if env:
        places.append(("$ROUTEDECK_CONFIG", Path(env).expanduser()))
    places.append(("user config dir", default_config_file()))
    return places


def resolve_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to use: the first explicit choice (even if missing, so errors name it),
    else the user file if it exists, else None (built-in defaults)."""
    places = config_search_path(explicit)
    origin, path = places[0]
    if origin != "user config dir":
        return path
    return path if path.exists() else None


def theme_dirs() -> list[Path]:
    """Directories searched for ``*.toml`` colour themes, lowest precedence first: the
    repository's ``themes/`` (a source checkout or editable install), then the user's."""
    repo_themes = Path(__file__).resolve().parents[3] / "themes"
    return [repo_themes, config_dir() / "themes"]


def theme_file_names() -> set[str]:
    """Names of the theme files found (their ``name`` key, else the file name)."""
    import tomllib

    names: set[str] = set()
    for directory in theme_dirs():
        for path in sorted(directory.glob("*.toml")) if directory.is_dir() else ():
            try:
                name = tomllib.loads(path.read_text(encoding="utf-8")).get("name", path.stem)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue  # the console reports broken theme files itself
            if isinstance(name, str) and name.strip():
                names.add(name.strip())
    return names
