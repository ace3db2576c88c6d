"""The dashboard in a real headless Chromium, against a real gateway (uvicorn)
over a real database: every screen renders with data and without JavaScript
errors, a read stored during the test shows up live within 2 s, search and
paging work both ways, sign-in keeps the key out of URLs, /docs works offline.

Screenshots of every screen, the page weight and the first-screen time go to
`ALPR_TEST_ARTIFACTS` (default tmp/artifacts/dashboard in the repository).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.holds import HoldRequest, add_hold
from core.keys import create_key
from ingestor.health import Publisher
from ingestor.metrics import Stats
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.e2e.cdp import CHROMIUM, Browser, Page
from tests.e2e.dashboard import (
    ARTIFACTS,
    UNLABELLED,
    all_of,
    click,
    fill,
    inner_text,
    note,
    row_count,
    shows,
)
from tests.factories import wire_event
from tests.integration.gateway_server import serve, settings_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]
MAX_PAGE_BYTES = 300 * 1024


def _read(plate: str, camera: str, site: str, at: datetime) -> PlateEvent:
    return event_from_dict(
        wire_event(plate__text=plate, camera_id=camera, node__site=site, captured_at=at.isoformat())
    )


def _history() -> list[PlateEvent]:
    """Two sites, four cameras, a day and a half: DASH123 read 60 times (pages of
    reads), PG0001-PG0045 (pages of search results), traffic for the charts."""
    now = datetime.now(UTC)  # when the module runs, not when it was imported
    cameras = [("gate-1", "north"), ("gate-2", "north"), ("dock-1", "south"), ("dock-2", "south")]
    reads = [
        _read("DASH123", *cameras[i % 4], now - timedelta(minutes=37 * i + 5)) for i in range(60)
    ]
    reads += [
        _read(f"PG{i:04d}", *cameras[i % 3], now - timedelta(minutes=23 * i + 3))
        for i in range(1, 46)
    ]
    reads += [_read("DASH12B", "gate-2", "north", now - timedelta(hours=2))]
    # dock-3 falls silent: a read every 6 minutes for 20 hours, none for five.
    reads += [
        _read(f"TR{i % 30}", "dock-3", "south", now - timedelta(hours=5, minutes=6 * i))
        for i in range(200)
    ]
    return reads


@pytest.fixture(scope="module")
async def stored(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        await write_batch(conn, _history())
    await add_hold(
        pool, HoldRequest(plate="DASH123", case_number="C-7", reason="inquiry", created_by="dpo")
    )
    # An ingestor's health report, as ingestor.health publishes it.
    stats = Stats(stored=305, dead_lettered=3)
    stats.record_dead("kafka", "bad_json", 0)
    stats.record_lag("plates", 0, 0, datetime.now(UTC))
    stats.record_lag("plates", 1, 1250, datetime.now(UTC))
    async with pool.acquire() as conn:
        await Publisher(stats, ("kafka",), ingestor="edge-1:4242").publish(conn)


@pytest.fixture(scope="module")
async def base_url(database_url: str, stored: None, vendor: None) -> AsyncIterator[str]:
    async with serve(settings_for(database_url)) as url:
        yield url


READS = "section[aria-labelledby=reads-title] tbody"
CHART = "!!document.querySelector('.uplot')"


SCREENS = [
    # (route, what is on screen once its data is in, screenshot name)
    ("#/live", f"{row_count()} >= 20", "live"),
    (
        "#/cameras",
        "[...document.querySelectorAll('main tbody tr')].some((r) => "
        "r.innerText.startsWith('dock-3') && r.innerText.includes('Silent'))",
        "cameras",
    ),
    (
        "#/stats",
        all_of(
            f"{row_count('section[aria-labelledby=sites-title] tbody tr')} >= 2",
            shows("Stored in the last hour"),
            shows("edge-1:4242"),
            shows("1,250 messages behind in all"),
            CHART,
        ),
        "stats",
    ),
    (
        "#/plate/DASH123",
        all_of(shows("DASH12B"), shows("C-7"), f"{row_count(READS + ' tr')} == 25", CHART),
        "plate",
    ),
    (
        "#/admin",
        all_of(
            shows("inquiry"), f"{row_count('section[aria-labelledby=audit-title] tbody tr')} > 0"
        ),
        "admin",
    ),
    ("#/search", "!!document.querySelector('#q')", "search-empty"),
]


async def test_every_screen_renders_with_data(base_url: str, page: Page) -> None:
    for route, ready, name in SCREENS:
        await page.goto(f"{base_url}/{route}")
        await page.wait_for(ready, timeout=15)
        await page.screenshot(ARTIFACTS / f"{name}.png")
        assert await page.evaluate(UNLABELLED) == [], route


async def test_first_screen_with_data(base_url: str, page: Page) -> None:
    await page.goto("about:blank")
    started = time.perf_counter()
    await page.goto(f"{base_url}/#/live")
    await page.wait_for(f"{row_count()} >= 20", timeout=15)
    elapsed = time.perf_counter() - started
    note("first_screen_with_data_s", round(elapsed, 3))
    assert elapsed < 5  # the 1 s target is for a quiet machine; see the report


async def test_page_weight(base_url: str, browser: Browser) -> None:
    """Every file the page loads, as sent (gzip where it helps), in a tab
    that has nothing cached: at most 300 KB."""
    page = await browser.page()
    await page.send("Network.enable")
    await page.send("Network.setCacheDisabled", {"cacheDisabled": True})
    await page.goto(f"{base_url}/#/stats")
    await page.wait_for("!!document.querySelector('.uplot')", timeout=15)
    entries = await page.evaluate(
        """[performance.getEntriesByType('navigation')[0],
            ...performance.getEntriesByType('resource')]
          .filter((e) => e.name !== `${location.origin}/graphql`)
          .map((e) => ({ name: e.name, sent: e.transferSize, body: e.encodedBodySize,
                         unpacked: e.decodedBodySize }))"""
    )
    await page.send("Page.close")
    total = sum(e["sent"] for e in entries)
    note("page_weight", {"transfer_bytes": total, "files": entries})
    assert page.errors == []
    assert all(e["name"].startswith(base_url) for e in entries)  # nothing from elsewhere
    assert any("graphql-ws" in e["name"] for e in entries)
    assert 0 < total <= MAX_PAGE_BYTES


async def test_a_stored_read_appears_live_within_2s(
    base_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{base_url}/#/live")
    await page.wait_for(f"{row_count()} >= 20", timeout=15)
    await asyncio.sleep(0.5)  # the subscription is open once the recent page is in
    async with pool.acquire() as conn:
        await write_batch(conn, [_read("LIVE777", "gate-1", "north", datetime.now(UTC))])
    started = time.perf_counter()
    await page.wait_for(f"{inner_text('main table tbody tr')}.includes('LIVE777')", timeout=2)
    note("live_read_shown_s", round(time.perf_counter() - started, 3))
    # counted each second
    await page.wait_for(f"Number({inner_text('#live-rate')}) >= 1", timeout=2)
    await page.screenshot(ARTIFACTS / "live-new-read.png")


async def test_pause_holds_reads_and_resume_shows_them(
    base_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{base_url}/#/live")
    await page.wait_for(f"{row_count()} >= 20", timeout=15)
    await asyncio.sleep(0.5)
    await click(page, "Pause")
    async with pool.acquire() as conn:
        await write_batch(conn, [_read("HELD01", "gate-1", "north", datetime.now(UTC))])
    await page.wait_for(f"{inner_text('main')}.includes('1 new reads held')", timeout=3)
    assert "HELD01" not in await page.evaluate(inner_text("main table"))
    await click(page, "Resume")
    await page.wait_for(f"{inner_text('main table tbody tr')}.includes('HELD01')", timeout=2)


async def _results(page: Page, first: int, last: int) -> None:
    caption = f"Results {first}\u2013{last},"  # an en dash, as the page writes ranges
    await page.wait_for(f"{inner_text('main table caption')}.startsWith({json.dumps(caption)})")


async def test_search_finds_the_plate_and_pages_both_ways(base_url: str, page: Page) -> None:
    await page.goto(f"{base_url}/#/search")
    await page.wait_for("!!document.querySelector('#q')")
    await fill(page, "#q", "DASH123")
    await click(page, "Search")
    await page.wait_for(f"{inner_text('main table tbody tr')}.startsWith('DASH123')", timeout=10)
    assert "DASH12B" in await page.evaluate(inner_text("main table"))  # fuzzy: the misread next
    await page.screenshot(ARTIFACTS / "search.png")

    await fill(page, "#q", "PG00*")
    await click(page, "Search")
    await _results(page, 1, 20)
    first = await page.evaluate(inner_text("main table tbody"))
    await click(page, "Next →")
    await _results(page, 21, 40)
    second = await page.evaluate(inner_text("main table tbody"))
    await click(page, "Next →")
    await _results(page, 41, 45)
    next_button = "[...document.querySelectorAll('button')].find((b) => b.innerText == 'Next →')"
    assert await page.evaluate(f"{next_button}.disabled")
    await click(page, "← Previous")
    await _results(page, 21, 40)
    assert await page.evaluate(inner_text("main table tbody")) == second
    await click(page, "← Previous")
    await _results(page, 1, 20)
    assert await page.evaluate(inner_text("main table tbody")) == first
    plates = set(first.split()) & set(second.split())
    assert not {p for p in plates if p.startswith("PG")}  # no plate on both pages


async def test_plate_reads_page_both_ways(base_url: str, page: Page) -> None:
    await page.goto(f"{base_url}/#/plate/DASH123")
    await page.wait_for(f"{row_count(READS + ' tr')} == 25", timeout=15)
    first = await page.evaluate(inner_text(READS))
    await click(page, "Older →")
    await page.wait_for(
        f"{inner_text(READS)} !== {json.dumps(first)} && {row_count(READS + ' tr')} == 25"
    )
    second = await page.evaluate(inner_text(READS))
    await click(page, "Older →")
    await page.wait_for(f"{row_count(READS + ' tr')} == 10")  # 60 reads: 25, 25, 10
    await click(page, "← Newer")
    await page.wait_for(f"{inner_text(READS)} === {json.dumps(second)}")
    await click(page, "← Newer")
    await page.wait_for(f"{inner_text(READS)} === {json.dumps(first)}")


async def test_swagger_works_offline(base_url: str, page: Page) -> None:
    await page.goto(f"{base_url}/docs")
    await page.wait_for("!!document.querySelector('.swagger-ui .info .title')", timeout=15)
    html = await page.evaluate("document.documentElement.outerHTML")
    assert "cdn.jsdelivr.net" not in html
    resources = await page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert all(name.startswith(base_url) for name in resources)
    await page.screenshot(ARTIFACTS / "docs.png")


@pytest.fixture(scope="module")
async def keyed_url(
    database_url: str, stored: None, vendor: None, pool: asyncpg.Pool[Any]
) -> AsyncIterator[tuple[str, str]]:
    _, token = await create_key(pool, "desk", ["read"])
    async with serve(settings_for(database_url, require_keys=True)) as url:
        yield url, token


async def test_sign_in_keeps_the_key_in_the_session_and_names_a_missing_scope(
    keyed_url: tuple[str, str], page: Page
) -> None:
    url, token = keyed_url
    await page.goto(f"{url}/#/live")
    await page.wait_for("!!document.querySelector('#signin-key')")
    await page.screenshot(ARTIFACTS / "sign-in.png")
    await fill(page, "#signin-key", token)
    await click(page, "Sign in")
    await page.wait_for(f"{row_count()} >= 20", timeout=15)
    assert token not in await page.evaluate("location.href")
    assert await page.evaluate("sessionStorage.getItem('alpr.key')") == token
    await page.goto(f"{url}/#/admin")
    await page.wait_for(f'{inner_text("main")}.includes("cannot do this")', timeout=10)
    message = await page.evaluate(inner_text("main [role=alert]"))
    assert "'admin' scope" in message
    await page.screenshot(ARTIFACTS / "admin-missing-scope.png")


@pytest.fixture(scope="module")
async def purpose_url(database_url: str, stored: None, vendor: None) -> AsyncIterator[str]:
    async with serve(settings_for(database_url, require_purpose=True)) as url:
        yield url


async def test_a_required_purpose_is_asked_for_and_sent(
    purpose_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{purpose_url}/#/search")
    await page.wait_for("!!document.querySelector('#q')")
    await fill(page, "#q", "DASH123")
    await click(page, "Search")
    await page.wait_for(f"{inner_text('main [role=alert]')}.includes('Purpose')", timeout=10)
    await fill(page, "#purpose", "case C-7")
    await click(page, "Set")
    await page.wait_for("!!document.querySelector('#q') && !document.querySelector('#q').value")
    await fill(page, "#q", "DASH123")
    await click(page, "Search")
    await page.wait_for(f"{inner_text('main table tbody tr')}.startsWith('DASH123')", timeout=10)
    audited = await pool.fetchval(
        "SELECT purpose FROM audit_log WHERE operation = 'Search' ORDER BY audit_id DESC LIMIT 1"
    )
    assert audited == "case C-7"
