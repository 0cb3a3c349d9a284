"""Make untrusted text inert before it is drawn on a terminal.

Prompts, model answers and server error messages are data. Written to a terminal as they are,
an ESC or C1 control byte starts an escape sequence the terminal obeys: clear the screen
(``ESC[2J``), set the clipboard (OSC 52), plant a hyperlink (OSC 8), retitle the window. The
console and the human-readable CLI output pass such text through :func:`inert`, which swaps
every control character except newline and tab for a visible stand-in (carriage returns
are dropped), so the text still
shows what was there but cannot act. Machine output (``--json``, exports) keeps the exact
text; JSON escapes control characters itself.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return ""  # CR: "\r\n" line ends become "\n"; a lone CR cannot overwrite the line
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ESC -> U+241B
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"  # C1 controls (e.g. 0x9b, the one-byte CSI)


def inert(text: str) -> str:
    """``text`` with control characters (but newline and tab) replaced by visible symbols."""
    return _CONTROL.sub(_visible, text) if text else text
