"""Make untrusted text inert before it is drawn on a terminal, and storable everywhere.

Prompts, model answers and server error messages are data. Written to a terminal as they are,
an ESC or C1 control byte starts an escape sequence the terminal obeys: clear the screen
(``ESC[2J``), set the clipboard (OSC 52), plant a hyperlink (OSC 8), retitle the window. The
console and the human-readable CLI output pass such text through :func:`inert`, which swaps
every control character except newline and tab for a visible stand-in (carriage returns
are dropped), so the text still
shows what was there but cannot act. Machine output (``--json``, exports) keeps the exact
text; JSON escapes control characters itself.

A Python string can also hold what no file, database or terminal accepts: a lone UTF-16
surrogate (``"\\ud800"``, from a JSON escape in a server's reply or a row of a prompt file,
or a command-line argument that was not valid UTF-8). :func:`clean` is the one place such
text is made encodable (a surrogate pair becomes its character, a lone surrogate U+FFFD):
the provider, the prompt readers and the store pass text through it, :func:`inert` does
too, and :func:`dumps` is the JSON every command prints (non-finite numbers become null,
since ``NaN`` is not JSON).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return ""  # CR: "\r\n" line ends become "\n"; a lone CR cannot overwrite the line
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ESC -> U+241B
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"  # C1 controls (e.g. 0x9b, the one-byte CSI)


def clean(text: str) -> str:
    """``text`` as valid Unicode: surrogate pairs joined, lone surrogates replaced by U+FFFD."""
    if not text or _SURROGATE.search(text) is None:
        return text
    # UTF-16 round trip: "surrogatepass" writes each surrogate as its code unit, the decoder
    # then joins pairs and replaces what is left alone.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def inert(text: str) -> str:
    """``text`` with control characters (but newline and tab) replaced by visible symbols."""
    return _CONTROL.sub(_visible, clean(text)) if text else text


def cleaned(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every string cleaned and
    every non-finite float replaced by None."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean(str(k)) if isinstance(k, str) else k: cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [cleaned(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """JSON text any parser accepts: exact strings (control characters escaped, non-ASCII
    kept), lone surrogates replaced, NaN and infinities written as null."""
    kwargs.setdefault("ensure_ascii", False)
    try:
        text = json.dumps(value, allow_nan=False, **kwargs)
    except ValueError:  # a NaN or an infinity somewhere: rebuild without them
        text = json.dumps(cleaned(value), allow_nan=False, **kwargs)
    return clean(text)
