"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made from
# the test body are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("JINGWU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1400, "height": 1000}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _page(browser: Any, live_server: Any, viewport: dict[str, int]) -> Iterator[Any]:
    """A page whose browser asks for Chinese; `page.console_errors` collects console errors
    (a CSP violation shows up there)."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture
def phone(browser: Any, live_server: Any) -> Iterator[Any]:
    """A phone-sized page, as an officer's phone shows it."""
    yield from _page(browser, live_server, PHONE)


@pytest.fixture
def desktop(browser: Any, live_server: Any) -> Iterator[Any]:
    """A desk screen, wide enough for the command centre's board."""
    yield from _page(browser, live_server, DESKTOP)
