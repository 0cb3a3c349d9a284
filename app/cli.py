"""The ``routedeck`` command. Subcommands live in ``app.commands`` and are imported only when
invoked, so ``routedeck route "hi"`` does not pay for Textual, openai or the store."""

from __future__ import annotations

import difflib
import importlib

import click

from app import __version__

# name -> "module:attribute" of a click command, loaded on demand.
SUBCOMMANDS: dict[str, str] = {
    "route": "app.commands.route:route",
    "audit": "app.commands.audit:audit",
    "config": "app.commands.config:config",
    "eval": "app.commands.eval:eval_cmd",
    "train": "app.commands.train:train",
    "ask": "app.commands.ask:ask",
    "report": "app.commands.report:report",
    "export": "app.commands.report:export",
    "compare": "app.commands.compare:compare",
    "review": "app.launch:review",
    "calibrate": "app.commands.calibrate:calibrate",
    "serve": "app.commands.serve:serve",
    "store": "app.commands.store:store",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in SUBCOMMANDS:
            close = difflib.get_close_matches(name, SUBCOMMANDS, n=1, cutoff=0.6)
            if close:
                ctx.fail(f"No such command '{name}'. Did you mean '{close[0]}'?")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from app.core.routing import compiled

    click.echo(f"routedeck, version {__version__}\n{compiled.summary()}")
    ctx.exit()


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Config file (default: $ROUTEDECK_CONFIG, then the user config dir).")
@click.option("--session", "session_id", type=click.IntRange(1, 2**63 - 1),
              help="Resume this session in the console.")
@click.option("--tier", "pin_tier", help="Pin every prompt of the console session to this tier.")
@click.option("--play", "play_file", type=click.Path(exists=True, dir_okay=False),
              help="Demo: type the prompts of FILE (text or JSONL) into the console one by one.")
@click.option("--no-cache", "no_cache", is_flag=True, default=None,
              help="Console: answer every prompt afresh, never from the local cache (a demo "
                   "rehearsed once would replay from it, at $0 and a few ms).")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version,
              help="Show the version and whether the router runs compiled, then exit.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, session_id: int | None,
        pin_tier: str | None, play_file: str | None, no_cache: bool | None) -> None:
    """RouteDeck: route every prompt to the cheapest model tier able to answer it.

    With no subcommand, starts the console.
    """
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_file
    if ctx.invoked_subcommand is not None:
        console_only = [flag for flag, value in (("--session", session_id), ("--tier", pin_tier),
                                                 ("--play", play_file), ("--no-cache", no_cache))
                        if value is not None]
        if console_only:
            # Silently ignoring them would route, report or spend as if they applied.
            verb = "is" if len(console_only) == 1 else "are"
            raise click.UsageError(
                f"{' and '.join(console_only)} {verb} for the console (routedeck with no "
                f"subcommand) and cannot come before `{ctx.invoked_subcommand}`; see "
                f"`routedeck {ctx.invoked_subcommand} --help` for its own options")
        return
    from app.commands.common import load_or_exit

    settings = load_or_exit(config_file, {"cache": {"enabled": False}} if no_cache else None)
    from app.tui.run import run_console

    run_console(settings, config_file=config_file, session_id=session_id,
                pin_tier=pin_tier, play_file=play_file)


def main() -> None:
    cli(prog_name="routedeck")
