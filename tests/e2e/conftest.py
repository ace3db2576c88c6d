"""Fixtures of the browser tests: one headless Chromium per module, a fresh
tab per test that must end without JavaScript errors, and the dashboard's
libraries (skipped when not installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.assets import VENDOR, vendor_installed
from tests.e2e.cdp import Browser, Page


@pytest.fixture(scope="module")
def vendor() -> None:
    if not all(vendor_installed(name) for name in VENDOR):
        pytest.skip("the dashboard's libraries are not installed (make install)")


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    async with Browser.start(tmp_path_factory.mktemp("chromium")) as browser:
        yield browser


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    page = await browser.page()
    yield page
    await page.send("Page.close")
    assert page.errors == []
