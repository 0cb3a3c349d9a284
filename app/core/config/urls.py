"""URLs in the configuration that may carry a secret: how to tell, and how to show them.

A password never belongs in a URL that RouteDeck reads from its config (it comes from the
environment variable the config names), yet a provider's ``base_url`` may hold one (a proxy
with basic auth: ``https://user:secret@host/v1``). So any URL RouteDeck shows, logs, stores
or exports goes through :func:`redact_url` first, and any text that may quote one (a server
or transport error message) through :func:`redact_urls_in`: the one place URLs are made
safe to show.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAMS = {"password", "passfile", "sslpassword"}
# scheme://userinfo@ inside free text; the userinfo may itself hold "@" (last one wins).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#@]*@)+")
_HTTP = ("http", "https")


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
            if ":" in userinfo:
                netloc = f"{user}:***@{hostport}"
            elif parts.scheme.lower() in _HTTP:
                netloc = f"***@{hostport}"  # a lone userinfo in an HTTP URL is a token
            else:
                netloc = f"{user}@{hostport}"  # a database role name
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k in _SECRET_PARAMS else v) for k, v in pairs],
                              safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Not parseable as a URL: show nothing of it rather than risk a secret.
        return "<unparseable url>"


def redact_urls_in(text: str) -> str:
    """``text`` with the userinfo of every URL in it (``scheme://user:pass@``) masked."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group(1)}***@", text)


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a provider's base URL (None when it can); never quotes it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        return "not a valid URL (is the port a number from 1 to 65535?)"
    if parts.scheme.lower() not in _HTTP:
        return "must start with http:// or https:// (e.g. http://localhost:11434/v1)"
    if not parts.hostname:
        return "has no host name (e.g. https://api.openai.com/v1)"
    if port == 0:
        return "port 0 is not a port a server listens on"
    if any(c.isspace() for c in url.strip()):
        return "contains spaces"
    return None
