"""Playwright on Debian's Chromium (never a downloaded browser) against pytest-django's ``live_server``."""

import os
import shutil

import pytest
from django.db import connections

CHROMIUM = os.environ.get("TROIKA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the test itself are
    # still plain synchronous calls, so let them through.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's event loop runs in this thread, Django keeps this thread's database connections
            # apart (asgiref's Local: thread-critical storage switches to context variables under a running
            # loop), so the tests run meanwhile — browser tests and whatever followed them on this worker — used
            # connections of their own. Close them now, while they are reachable: once the loop stops, Django
            # sees the thread's usual ones, and an open one left here would make pytest-django's DROP DATABASE
            # fail with "1 other session using the database".
            connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
