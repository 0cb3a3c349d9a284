"""A real browser for the HTML pages and the served console: Debian's Chromium, driven by
Playwright (no browser download: Playwright is pointed at the system binary).

A missing Chromium fails these tests with the fix in the message; they are never skipped,
because a skipped browser test would pass CI while the pages go untested.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Read at import: the autouse home fixture clears every ROUTEDECK_* variable before a test.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT_DIR = os.environ.get("SCREENSHOT_DIR")

# The flags this machine's notes require for headless Chromium as root with no network:
# without the background-networking ones Chromium keeps dialling out and is refused.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}


@pytest.fixture(scope="package")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with "
                    "`apt-get install -y chromium` (.ci/run does) or set CHROMIUM_PATH",
                    pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[dev]'", pytrace=False)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        # A persistent context gives the fresh --user-data-dir the notes ask for.
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=DESKTOP)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser):
    p = browser.new_page()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def shot(tmp_path):
    """``shot(page, name)`` saves a full-page screenshot, in SCREENSHOT_DIR when it is set
    (to look at them), else in the test's temp dir; returns the path."""
    def take(page, name: str, full_page: bool = True) -> Path:
        folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 5_000, f"screenshot {path} looks empty"
        return path

    return take
