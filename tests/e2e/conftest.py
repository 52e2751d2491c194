"""Fixtures of the browser tests (the modules that ask for `page` also mark themselves to skip
without Debian's chromium, tests/e2e/browser_support.py)."""

import pytest


@pytest.fixture(scope="module")
def browser():
    from tests.e2e.browser_support import CHROMIUM, playwright_api  # only where a browser is wanted

    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="pt-BR", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    context.close()
