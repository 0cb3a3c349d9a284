"""``routedeck config check|path|init``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from app.commands.common import EXIT_CONFIG, config_file_of
from app.core.config.loader import permission_warnings


def example_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "config.example.toml"


@click.group()
def config() -> None:
    """Validate, locate and create the configuration file."""


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--probe", is_flag=True,
              help="Also ask each tier's server for its model list (one GET /models each; "
                   "nothing is generated or spent). Exit 1 if one cannot be reached or none "
                   "could be asked (no key set).")
@click.pass_context
def check(ctx: click.Context, file: str | None, probe: bool) -> None:
    """Validate FILE (default: the config in use) and explain every problem."""
    from app.core.config import paths
    from app.core.config.errors import ConfigError
    from app.core.config.loader import load_settings
    from app.core.ledger.pricing import price_for

    chosen = file or config_file_of(ctx)
    path = paths.resolve_config_file(chosen)
    # Before validation: a readable file with a literal key is a problem even when it is
    # also invalid (an `api_key = "sk-..."` line is an unknown key, say).
    for warning in permission_warnings(path):
        click.echo(f"warning: {warning}", err=True)
    try:
        settings = load_settings(chosen)
    except ConfigError as exc:
        # Every problem in one go: the theme and keys too, read from the file as written,
        # so fixing the schema errors does not reveal a second round.
        seen = {p.key for p in exc.problems}
        extra = [p for p in _ui_problems(path) if p.key not in seen]
        click.echo(ConfigError(exc.path, [*exc.problems, *extra]).render(), err=True)
        sys.exit(EXIT_CONFIG)
    # Checked here as well as where they are used: the console would only toast them.
    problems = _ui_checks(settings.ui.theme, settings.keymap, settings.ui.newline_key)
    if problems:
        click.echo(ConfigError(path, problems).render(), err=True)
        sys.exit(EXIT_CONFIG)
    where = str(path) if path else "no config file (built-in defaults)"
    # With --probe the file being valid is only half the answer: the last line says the rest.
    click.echo(f"{'Valid' if probe else 'OK'}: {where}")
    for tier in settings.tiers:
        prov = settings.provider_for(tier)
        key = ("no key needed" if prov.keyless else
               f"${prov.api_key_env} {'set' if prov.api_key() else 'NOT set'}")
        click.echo(f"  tier {tier.name:<10} {tier.model} via {tier.provider} ({prov.shown_url}; {key})")
        if price_for(tier, prov) is None:
            click.echo(f"warning: tier {tier.name}: no price known for '{tier.model}' (not in "
                       "genai-prices' list): its calls are recorded as unpriced and left out "
                       "of the savings; set input_per_mtok and output_per_mtok on the tier "
                       "(0 for a local model)", err=True)
    if probe:
        import asyncio

        if not asyncio.run(_probe(settings)):
            sys.exit(1)


async def _probe(settings) -> bool:  # Settings
    """One line per tier: reachable and listing its model, or what failed and the fix; then
    a summary. False when a tier failed or none could be asked."""
    from app.core.calling.providers import ProviderError, ProviderPool

    pool = ProviderPool(settings)
    reached, failed, skipped = [], [], []
    try:
        for tier in settings.tiers:
            if not settings.provider_for(tier).usable():
                skipped.append(tier.name)
                click.echo(f"  probe {tier.name:<9} skipped: no API key set")
                continue
            try:
                models = await pool.listed_models(tier)
            except ProviderError as exc:
                failed.append(tier.name)
                click.echo(f"  probe {tier.name:<9} FAILED: {exc.message}")
                continue
            reached.append(tier.name)
            listed = ("lists it" if tier.model in models else
                      f"does not list '{tier.model}' ({len(models)} model(s) listed; some "
                      "servers list only part of what they serve)")
            click.echo(f"  probe {tier.name:<9} reachable; the server {listed}")
    finally:
        await pool.aclose()
    if failed:
        click.echo(f"FAILED: {len(failed)} of {len(settings.tiers)} tier(s) could not be "
                   f"reached ({', '.join(failed)}); see the lines above")
    elif not reached:
        click.echo("NOT PROBED: no tier has an API key set, so no server was asked; export "
                   "the variables named above (or point a tier at a keyless local server)")
    else:
        rest = f"; {', '.join(skipped)} skipped (no key)" if skipped else ""
        click.echo(f"OK: {len(reached)} of {len(settings.tiers)} tier(s) reachable{rest}")
    return bool(reached) and not failed


def _ui_checks(theme: str, keymap: dict[str, str], newline_key: str) -> list:  # [Problem]
    from app.core.config.keys import keymap_of

    _, problems = keymap_of(keymap, newline_key)
    unknown_theme = _unknown_theme(theme)
    return [unknown_theme, *problems] if unknown_theme is not None else problems


def _ui_problems(path: Path | None) -> list:  # [Problem]
    """The theme and key problems of the file at ``path`` read as plain TOML (for a file the
    schema refused); [] when those values are not even strings (the schema said so)."""
    from app.core.config.errors import ConfigError
    from app.core.config.loader import read_toml
    from app.core.config.settings import UIConfig

    try:
        raw = read_toml(path) if path else {}  # bounded: the file may be /dev/zero
    except ConfigError:
        return []
    ui = raw.get("ui") if isinstance(raw.get("ui"), dict) else {}
    default = UIConfig()
    theme = ui.get("theme", default.theme)
    newline = ui.get("newline_key", default.newline_key)
    keymap = raw.get("keymap") if isinstance(raw.get("keymap"), dict) else {}
    if not isinstance(theme, str) or not isinstance(newline, str) or \
            not all(isinstance(v, str) for v in keymap.values()):
        return []
    return _ui_checks(theme, keymap, newline)


def _unknown_theme(theme: str):  # -> Problem | None
    """None when ``theme`` is a theme file or a Textual built-in, else the problem and fix."""
    from textual.theme import BUILTIN_THEMES

    from app.core.config import paths
    from app.core.config.errors import Problem, env_variable

    known = paths.theme_file_names() | set(BUILTIN_THEMES)
    if theme in known:
        return None
    return Problem("ui.theme", f"no theme named {theme!r}",
                   f"use one of {', '.join(sorted(known))}, or add a theme file to "
                   f"{paths.config_dir() / 'themes'}", env_variable(("ui", "theme")))


@config.command()
@click.pass_context
def path(ctx: click.Context) -> None:
    """Print where config, data and cache files are looked for."""
    from app.core.config import paths

    for origin, p in paths.config_search_path(config_file_of(ctx)):
        click.echo(f"config ({origin}): {p}{'' if p.exists() else '  (not found)'}")
    chosen = paths.resolve_config_file(config_file_of(ctx))
    click.echo(f"in use: {chosen if chosen else 'built-in defaults'}")
    click.echo(f"data:   {paths.data_dir()}")
    click.echo(f"cache:  {paths.cache_dir()}")


@config.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write the documented example config to the file in use: --config FILE, else
    $ROUTEDECK_CONFIG, else the user config dir (never overwrites without --force)."""
    from app.core.config import paths

    chosen = config_file_of(ctx) or os.environ.get("ROUTEDECK_CONFIG")
    target = Path(chosen).expanduser() if chosen else paths.default_config_file()
    if target.exists() and not force:
        click.echo(f"{target} already exists; left unchanged (use --force to overwrite).")
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(example_config_path(), target)
        target.chmod(0o600)
    except OSError as exc:
        click.echo(f"error: cannot write {target}: {target.parent} is not writable "
                   f"({exc.strerror or exc}); make it writable or point ROUTEDECK_HOME at a "
                   "writable directory", err=True)
        sys.exit(1)
    flag = f"--config {chosen} " if config_file_of(ctx) else ""
    click.echo(f"wrote {target}; edit it, then run `routedeck {flag}config check`.")
