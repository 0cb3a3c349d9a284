"""``routedeck serve``: the console in a browser, through textual-serve, for a demo.

textual-serve starts one ``routedeck`` process per browser tab and relays its screen over a
WebSocket, so this module only composes that command line: it needs neither the console
nor Textual itself. Whoever can open the page can type prompts that spend money with the
configured keys, so it listens on loopback unless told otherwise, and the WebSocket only
accepts pages served from this server (a web page on another site cannot drive it, and a
DNS-rebound name is refused on loopback).
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from app.commands.common import config_file_of, load_or_exit

TEMPLATES = Path(__file__).parent / "serve_page"
DEFAULT_PORT = 8000
REMOTE_WARNING = (
    "warning: serving the console beyond this machine. Anyone who can reach {url} can type "
    "prompts that spend money with the configured API keys, read this console's session, "
    "and start new ones; there is no login. Stop it (ctrl+c) when the demo is over."
)


def is_loopback(host: str) -> bool:
    """Only a loopback address or ``localhost`` counts; any other name might resolve to a
    public interface, so it is treated as remote."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def console_command(config_file: str | None, tier: str | None, play: str | None) -> str:
    """The shell command textual-serve runs per browser tab: this same Python and
    RouteDeck, with the same config, so the browser shows the console ``routedeck`` starts."""
    args = [sys.executable, "-m", "app"]
    if config_file:
        args += ["--config", str(Path(config_file).resolve())]
    if tier:
        args += ["--tier", tier]
    if play:
        args += ["--play", str(Path(play).resolve())]
    return shlex.join(args)


def public_url_for(host: str, port: int) -> str:
    name = host.strip("[]")
    if name in ("0.0.0.0", "::", ""):
        # A wildcard address is not one a browser can open: name the machine instead.
        name = socket.gethostname()
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --allow-remote.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host: anyone who reaches it can spend money with "
              "your keys.")
@click.option("--public-url", help="The address browsers use to reach the server, when it "
              "differs from http://HOST:PORT (a proxy, or a name for a wildcard address).")
@click.option("--tier", help="Pin every browser session's console to this tier.")
@click.option("--play", type=click.Path(exists=True, dir_okay=False),
              help="Demo: each browser session types the prompts of FILE one by one.")
@click.option("--title", default="RouteDeck", show_default=True, help="Browser tab title.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, allow_remote: bool, public_url: str | None,
          tier: str | None, play: str | None, title: str) -> None:
    """Show the console in a web browser (one console per tab), for a demo on a projector.

    Runs the same console as `routedeck`, with the same --config; stop it with ctrl+c.
    """
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise click.UsageError(
            f"--host {host} is not a loopback address: anyone who can reach it could spend "
            "money with your API keys. Add --allow-remote if that is what you want.")
    config_file = config_file_of(ctx)
    settings = load_or_exit(config_file)  # fail here, not once per browser tab
    if tier is not None and tier not in [t.name for t in settings.tiers]:
        raise click.BadParameter(f"no tier {tier!r} (tiers: "
                                 f"{', '.join(t.name for t in settings.tiers)})",
                                 param_hint="--tier")
    url = public_url or public_url_for(host, port)
    if not loopback:
        click.echo(REMOTE_WARNING.format(url=url), err=True)
    problem = _cannot_listen(host, port)
    if problem:
        click.echo(f"error: cannot listen on {host}:{port}: {problem}", err=True)
        sys.exit(1)
    server = make_server(console_command(config_file, tier, play), host, port, url, title,
                         loopback)
    click.echo(f"RouteDeck console at {url} (ctrl+c stops it)", err=True)
    try:
        server.serve()
    except OSError as exc:  # lost the port between the check and the bind
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)


def _cannot_listen(host: str, port: int) -> str:
    """Why the server could not bind ``host:port`` (checked before saying it runs), or ''."""
    import errno

    try:
        ip = ipaddress.ip_address(host)
        family, addr = (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), (host, port)
    except ValueError:  # a name: resolved the way the server will
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"{host} does not resolve ({exc.strerror or exc})"
        family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} is in use (another server?); pick another with --port"
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges; pick one above 1023 with --port"
            return exc.strerror or str(exc)
    return ""


def make_server(command: str, host: str, port: int, public_url: str, title: str,
                loopback: bool):  # -> textual_serve.server.Server
    from aiohttp import web
    from textual_serve.server import Server

    allowed_origin = _origin(public_url)

    class ConsoleServer(Server):
        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            problem = websocket_problem(request.headers.get("Origin"), request.host,
                                        allowed_origin, loopback)
            if problem:
                return web.Response(status=403, text=problem)
            return await super().handle_websocket(request)

    return ConsoleServer(command, host=host, port=port, title=title, public_url=public_url,
                         templates_path=TEMPLATES)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def websocket_problem(origin: str | None, host_header: str, allowed_origin: str,
                      loopback: bool) -> str:
    """Why a WebSocket upgrade is refused, or '' to accept it.

    Browsers always send Origin: a page from another site (or a DNS-rebound name) must not
    drive a console that spends money. A client with no Origin is not a browser, and on
    loopback it runs on this machine already.
    """
    host_name = urlsplit(f"//{host_header}").hostname or ""
    if loopback and not is_loopback(host_name):
        return f"refused: Host {host_header!r} is not this machine's loopback address"
    if origin is None:
        return ""
    origin = origin.lower()
    if origin == allowed_origin or origin == f"http://{host_header.lower()}":
        return ""
    return f"refused: a page from {origin} may not open the console"
