"""`routedeck serve` in a real browser: the console answers a prompt typed in Chromium.

The served console draws on a canvas (xterm.js), which has no text to query, so the test
replays the bytes the browser's terminal received into a terminal emulator (pyte) of the
size the browser asked for: the screen it reconstructs is what the canvas shows.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pyte
import pytest

from app.core.ledger.store import SQLiteStore

ANSWER = "Lyon is the gastronomic capital of France."
PROMPT = "Which French city is famous for its food?"


class Screen:
    """What the browser's terminal shows, rebuilt from the frames it received."""

    def __init__(self) -> None:
        self.screen: pyte.Screen | None = None
        self.stream: pyte.ByteStream | None = None
        self.frames = 0

    def on_websocket(self, ws) -> None:
        query = parse_qs(urlsplit(ws.url).query)
        self.resize(int(query["width"][0]), int(query["height"][0]))
        ws.on("framereceived", self.on_frame)
        ws.on("framesent", self.on_sent)

    def resize(self, cols: int, rows: int) -> None:
        if self.screen is None:
            self.screen = pyte.Screen(cols, rows)
            self.stream = pyte.ByteStream(self.screen)
        else:
            self.screen.resize(rows, cols)

    def on_sent(self, payload) -> None:
        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            self.resize(size["width"], size["height"])

    def on_frame(self, payload) -> None:
        if isinstance(payload, bytes) and self.stream is not None:
            self.stream.feed(payload)
            self.frames += 1

    def text(self) -> str:
        return "\n".join(self.screen.display) if self.screen is not None else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early:\n{proc.stderr.read().decode()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"serve did not listen on {port} within {timeout} s")


def until(check, message: str, page=None, timeout_s: float = 10.0) -> None:
    """Poll ``check``; with ``page``, wait through Playwright so the browser's events (the
    frames :class:`Screen` reads) keep being delivered meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)


def wait_for_text(page, screen: Screen, needle: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # Flattened: a long answer may wrap across rows of the terminal.
        if needle in " ".join(" ".join(screen.text().split()).split()):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{needle!r} never showed in the browser's terminal:\n{screen.text()}")


@pytest.fixture
def served(loopback, loopback_config, isolated_home):
    """`routedeck --config CFG serve` on a free loopback port, the console against the
    loopback OpenAI-compatible server."""
    loopback.reply = ANSWER
    cfg = loopback_config()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--config", str(cfg), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
        start_new_session=True)
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}", port
    finally:
        # Its own process group: the consoles textual-serve started go with it.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_served_console_answers_a_prompt_typed_in_the_browser(page, served, shot, loopback,
                                                              isolated_home):
    url, port = served
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    screen = Screen()
    page.on("websocket", screen.on_websocket)
    page.goto(url + "/")
    page.wait_for_selector("body.-first-byte", timeout=20_000)
    wait_for_text(page, screen, "Ask anything", timeout_s=20)

    box = page.locator(".xterm-screen").bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 200
    # Keys go to xterm's hidden textarea; a click would land on (and focus) the chat pane.
    page.focus("textarea.xterm-helper-textarea")
    page.keyboard.type(PROMPT, delay=10)
    wait_for_text(page, screen, PROMPT)  # in the input box, before it is sent
    page.keyboard.press("Enter")
    wait_for_text(page, screen, ANSWER)
    page.wait_for_timeout(300)  # let the last frame paint before the picture
    shot(page, "serve-console", full_page=False)

    # The prompt really went through the console to the model, and was recorded (both
    # land a moment after the last token is drawn).
    def recorded() -> list[dict]:
        with SQLiteStore.open() as store:
            return [r for r in store.requests() if r["answer"] == ANSWER]

    until(lambda: any(b["messages"][-1]["content"] == PROMPT for b in loopback.bodies()),
          f"the loopback model never got the prompt: {loopback.bodies()}")
    until(recorded, "the ledger has no row for the answer")
    assert recorded()[0]["prompt"] == PROMPT
    # On a phone-width screen the console lays itself out again for the new size (its
    # narrow layout is the console's own: it keeps the panels and the prompt).
    page.set_viewport_size({"width": 390, "height": 844})
    until(lambda: screen.screen is not None and screen.screen.columns < 60,
          "the browser never told the console its new size", page)
    resized_at = screen.frames
    until(lambda: screen.frames > resized_at and "Ask anything" in screen.text()
          and "spent" in screen.text(), "the console did not redraw at phone width", page)
    page.wait_for_timeout(300)
    shot(page, "serve-console-phone", full_page=False)

    # The page itself loads nothing from beyond this server (no web fonts, no CDN).
    assert requests and all(urlsplit(u).netloc == f"127.0.0.1:{port}" for u in requests), \
        requests


def test_served_console_refuses_a_websocket_from_another_site(served):
    import http.client

    url, port = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    conn.request("GET", "/ws", headers={**headers, "Origin": "http://evil.example"})
    refused = conn.getresponse()
    assert refused.status == 403 and b"may not open the console" in refused.read()
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/ws", headers={**headers, "Host": f"rebound.example:{port}",
                                        "Origin": f"http://rebound.example:{port}"})
    rebound = conn.getresponse()
    assert rebound.status == 403 and b"not this machine's loopback" in rebound.read()
    conn.close()
