"""URLs in the configuration that may carry a secret: how to tell, and how to show them.

A password never belongs in a URL that RouteDeck reads from its config (it comes from the
environment variable the config names), and any URL RouteDeck shows goes through
:func:`redact_url` first.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = {"password", "passfile", "sslpassword"}


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in ("postgresql", "postgres")


def url_password(url: str) -> str | None:
    """The password written into a URL (userinfo or ``?password=``), if any."""
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _SECRET_PARAMS and value:
            return value
    return None


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``: the only form of a URL RouteDeck shows."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k in _SECRET_PARAMS else v) for k, v in pairs],
                              safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Not parseable as a URL: show nothing of it rather than risk a secret.
        return "<unparseable store url>"
