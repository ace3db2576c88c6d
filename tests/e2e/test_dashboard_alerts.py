"""The alerts inbox, the list manager and legal holds in a real headless
Chromium, against a real gateway over a real database, with alerts raised
by the real matcher: keyboard triage end to end, a live alert, an import
previewed then applied, a fuzzy entry's misreads, holds placed and released;
every control labelled, no JavaScript error. Screenshots go to the
artifacts (tests/e2e/dashboard.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from core import hotlists
from core.hotlists import Actor, EntrySpec, HotlistSpec
from core.keys import create_key
from tests.e2e.cdp import CHROMIUM, Page
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
from tests.integration.alert_rows import raise_alert
from tests.integration.alerts_support import drain, new_matcher, read, store
from tests.integration.gateway_server import serve, settings_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]
SETUP = Actor("setup", client="test")
ROWS = ".inbox-list tbody tr"
SELECTED = ".inbox-list tbody tr[aria-selected=true]"
MISREADS = "section[aria-labelledby=misreads-title]"


@pytest.fixture(scope="module")
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
async def alerting(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    """Two lists; three alerts raised as the matcher writes them, and one by
    the matcher itself: a fuzzy hit, 8 read as B."""
    await hotlists.create_hotlist(
        pool, HotlistSpec(name="stolen", priority=90, match_mode="fuzzy", max_cost=1.0), SETUP
    )
    await hotlists.create_hotlist(pool, HotlistSpec(name="watch", priority=30), SETUP)
    now = datetime.now(UTC)
    await raise_alert(pool, "watch", "WAT001", reason="unpaid", at=now - timedelta(minutes=30))
    await raise_alert(pool, "watch", "WAT002", reason="unpaid", at=now - timedelta(minutes=20))
    await raise_alert(pool, "watch", "WAT003", reason="unpaid", at=now - timedelta(minutes=15))
    await hotlists.add_entry(pool, "stolen", EntrySpec(plate="FZ8123", reason="stolen"), SETUP)
    matcher = await new_matcher(conn, database_url)
    await store(
        pool,
        [
            read("FZB123", "gate-1", now - timedelta(minutes=2), node__site="north"),
            read("NOHIT1", "dock-1", now - timedelta(minutes=2), node__site="south"),
        ],
    )
    assert await drain(matcher, conn) >= 1


@pytest.fixture(scope="module")
async def base_url(database_url: str, alerting: None, vendor: None) -> AsyncIterator[str]:
    async with serve(settings_for(database_url)) as url:
        yield url


def _selected_index() -> str:
    rows = f"[...document.querySelectorAll({json.dumps(ROWS)})]"
    return f"{rows}.findIndex((r) => r.ariaSelected === 'true')"


FOCUS_IN_LIST = "document.activeElement && document.activeElement.matches('.inbox-list tbody tr')"


async def _inbox(page: Page, base_url: str, rows: int) -> None:
    await page.goto(f"{base_url}/#/alerts")
    await page.wait_for(f"{row_count(ROWS)} >= {rows}", timeout=15)
    await page.evaluate(f"document.querySelector({json.dumps(SELECTED)}).focus()")


async def test_inbox_renders_newest_first_with_priority_and_labels(
    base_url: str, page: Page
) -> None:
    await _inbox(page, base_url, 4)
    rows = await page.evaluate(
        f"[...document.querySelectorAll({json.dumps(ROWS)})].map((r) => r.innerText)"
    )
    assert "FZB123" in rows[0] and "90" in rows[0]  # the newest: the matcher's fuzzy hit
    assert next(r for r in rows if "WAT00" in r).count("WAT003") == 1  # newest first
    assert await page.evaluate(UNLABELLED) == []
    await page.screenshot(ARTIFACTS / "alerts.png")
    # Filter by list: only the list's alerts.
    await fill(page, "#alerts-list", "watch", event="change")
    await page.wait_for(
        f"{row_count(ROWS)} == 3 && !{inner_text('.inbox-list tbody')}.includes('FZB123')",
        timeout=10,
    )
    await fill(page, "#alerts-site", "south", event="change")
    await page.wait_for(shows("No alert here."), timeout=10)


async def test_keyboard_triage_end_to_end(
    base_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await _inbox(page, base_url, 4)
    assert await page.evaluate(_selected_index()) == 0
    await page.press("j")
    await page.wait_for(f"{_selected_index()} == 1 && {FOCUS_IN_LIST}")
    await page.press("ArrowDown")
    await page.wait_for(f"{_selected_index()} == 2")
    await page.press("k")
    await page.press("ArrowUp")
    await page.wait_for(f"{_selected_index()} == 0 && {FOCUS_IN_LIST}")

    # Enter opens the fuzzy hit: entry, list, reads, the differing character.
    await page.press("Enter")
    await page.wait_for(
        all_of(
            "document.activeElement.id == 'alert-title'",
            f"{inner_text('.alert-detail')}.includes('1 reads of this pass')",
            f"{inner_text('.alert-detail .diff mark')} == '8'",
            f"{inner_text('.alert-detail')}.includes('8 read as B (look-alike, cost 0.25)')",
            f"{inner_text('.alert-detail')}.includes('stolen (priority 90')",
        ),
        timeout=10,
    )
    await page.screenshot(ARTIFACTS / "alert-open.png")
    await page.press("Escape")
    await page.wait_for(f"{FOCUS_IN_LIST} && !document.querySelector('.alert-detail')")

    # a: acknowledged, by the API.
    await page.press("a")
    await page.wait_for(f"{inner_text(SELECTED)}.includes('Acknowledged')", timeout=10)

    # c: the dialog; a confirmed hit needs every checklist answer.
    await page.press("c")
    await page.wait_for(
        "document.querySelector('dialog[open]') && document.activeElement.id == 'disp-CONFIRMED'"
    )
    assert await page.evaluate(UNLABELLED) == []
    await page.evaluate("document.querySelector('#disp-CONFIRMED').click()")
    await page.evaluate("document.querySelector('#check-imageMatchesEntry-yes').click()")
    await click(page, "Close the alert")
    await page.wait_for(f"{inner_text('dialog [role=alert]')}.includes('every checklist answer')")
    await page.evaluate("document.querySelector('#check-regionMatches-yes').click()")
    await page.evaluate("document.querySelector('#check-entryStillActive-no').click()")
    await fill(page, "#close-note", "stopped at gate 1")
    await page.screenshot(ARTIFACTS / "alert-close.png")
    await click(page, "Close the alert")
    # Closed alerts leave the open inbox; focus returns to the list.
    await page.wait_for(
        f"!document.querySelector('dialog[open]') && {row_count(ROWS)} == 3 && {FOCUS_IN_LIST}",
        timeout=10,
    )
    closed = await pool.fetchrow(
        "SELECT status, disposition, disposition_note, checklist, closed_by FROM alerts"
        " WHERE plate_read = 'FZB123'"
    )
    assert closed is not None
    assert (closed["status"], closed["disposition"], closed["disposition_note"]) == (
        "closed",
        "confirmed",
        "stopped at gate 1",
    )
    assert json.loads(closed["checklist"]) == {
        "image_matches_entry": True,
        "region_matches": True,
        "entry_still_active": False,
    }

    # The next one closed as a misread, no checklist needed.
    await page.press("c")
    await page.wait_for("!!document.querySelector('dialog[open]')")
    await page.evaluate("document.querySelector('#disp-MISREAD').click()")
    await click(page, "Close the alert")
    await page.wait_for(f"{row_count(ROWS)} == 2", timeout=10)
    # Escape in the dialog cancels and gives the focus back.
    await page.press("c")
    await page.wait_for("!!document.querySelector('dialog[open]')")
    await page.press("Escape")
    await page.wait_for(f"!document.querySelector('dialog[open]') && {FOCUS_IN_LIST}")


async def _has_alert_raised(base_url: str) -> bool:
    import httpx

    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{base_url}/graphql",
            json={"query": "{ __schema { subscriptionType { fields { name } } } }"},
        )
    fields = answer.json()["data"]["__schema"]["subscriptionType"]["fields"]
    return any(f["name"] == "alertRaised" for f in fields)


async def test_a_raised_alert_appears_live_with_a_cue(
    base_url: str,
    page: Page,
    pool: asyncpg.Pool[Any],
    conn: asyncpg.Connection[Any],
    database_url: str,
) -> None:
    if not await _has_alert_raised(base_url):
        pytest.skip("the gateway has no alertRaised subscription yet")
    matcher = await new_matcher(conn, database_url)
    await _inbox(page, base_url, 1)
    await page.evaluate("document.querySelector('#alerts-sound').click()")  # beeps: no error
    await asyncio.sleep(0.5)  # the subscription is open once the first page is in
    await store(pool, [read("FZ8I23", "gate-2", node__site="north")])
    await drain(matcher, conn)
    started = time.perf_counter()
    await page.wait_for(f"{inner_text('.inbox-list tbody tr.fresh')}.includes('FZ8I23')", timeout=2)
    note("live_alert_shown_s", round(time.perf_counter() - started, 3))
    assert "FZ8I23" in await page.evaluate(inner_text("#alerts-announce"))
    assert await page.evaluate(_selected_index()) >= 0
    await page.screenshot(ARTIFACTS / "alerts-live.png")


async def test_alerts_raised_while_the_connection_was_down_come_on_reconnect(
    database_url: str,
    alerting: None,
    vendor: None,
    page: Page,
    pool: asyncpg.Pool[Any],
    conn: asyncpg.Connection[Any],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    matcher = await new_matcher(conn, database_url)
    async with serve(settings_for(database_url), port=port) as url:
        await _inbox(page, url, 1)
        await asyncio.sleep(0.5)
    # The gateway is gone: the page keeps retrying while an alert is raised.
    # Another camera: a read at gate-1 would join that camera's open pass.
    await store(pool, [read("FZ8IZ3", "gate-3", node__site="north")])
    await drain(matcher, conn)
    async with serve(settings_for(database_url), port=port):
        await page.wait_for(
            f"{inner_text('.inbox-list tbody tr.fresh')}.includes('FZ8IZ3')", timeout=20
        )
    page.errors[:] = [e for e in page.errors if "WebSocket connection" not in e]


@pytest.fixture(scope="module")
async def keyed_url(
    database_url: str, alerting: None, vendor: None, pool: asyncpg.Pool[Any]
) -> AsyncIterator[tuple[str, str]]:
    _, token = await create_key(pool, "viewer", ["read"])
    async with serve(settings_for(database_url, require_keys=True)) as url:
        yield url, token


async def test_a_key_without_triage_scope_is_told_so(
    keyed_url: tuple[str, str], page: Page
) -> None:
    url, token = keyed_url
    await page.goto(f"{url}/#/alerts")
    await page.wait_for("!!document.querySelector('#signin-key')")
    await fill(page, "#signin-key", token)
    await click(page, "Sign in")
    await page.wait_for(f"{row_count(ROWS)} >= 2", timeout=15)
    await page.evaluate(f"document.querySelector({json.dumps(SELECTED)}).focus()")
    await page.press("a")
    messages = "[...document.querySelectorAll('main [role=alert]')].map((e) => e.innerText)"
    await page.wait_for(f"{messages}.some((m) => m.includes(\"'triage' scope\"))", timeout=10)
    found = [m for m in await page.evaluate(messages) if "'triage' scope" in m]
    assert found[0].startswith("Your API key cannot do this")
    await page.screenshot(ARTIFACTS / "alerts-missing-scope.png")


LIST_FILE = """plate,reason,region,case
IMP001,stolen,TX,C-1
IMP002,stolen,TX,C-2
FZ8123,stolen,,C-9
,stolen,TX,
IMP001,stolen,TX,C-1
"""


async def test_list_manager_entries_import_and_misreads(
    base_url: str, page: Page, tmp_path: Path, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{base_url}/#/lists")
    await page.wait_for(
        f"{row_count()} >= 2 && {shows('stolen')} && {shows('fuzzy ≤ 1')}", timeout=15
    )
    await page.screenshot(ARTIFACTS / "lists.png")
    await page.goto(f"{base_url}/#/lists/stolen")
    await page.wait_for(shows("Entries of stolen"), timeout=10)
    await page.wait_for(
        f"{inner_text('section[aria-labelledby=entries-title] tbody')}.includes('FZ8123')"
    )

    # Add, find, remove an entry.
    await fill(page, "#add-plate", "new 77")
    await fill(page, "#add-reason", "stolen")
    await click(page, "Add")
    await page.wait_for(shows("Entry NEW77 added."), timeout=10)
    await page.wait_for(
        f"{inner_text('section[aria-labelledby=entries-title] tbody')}.includes('NEW77')"
    )
    await fill(page, "#entry-search", "NEW77")
    await click(page, "Find")
    await page.wait_for(f"{row_count('section[aria-labelledby=entries-title] tbody tr')} == 1")
    await page.evaluate("document.querySelector('[aria-label=\"Remove NEW77\"]').click()")
    await page.evaluate(
        "document.querySelector('[aria-label^=\"Confirm removing NEW77\"]').click()"
    )
    await page.wait_for(
        f"{row_count('section[aria-labelledby=entries-title] tbody tr')} == 0", timeout=10
    )
    assert await pool.fetchval(
        "SELECT removed_at IS NOT NULL FROM hotlist_entries WHERE plate = 'NEW77'"
    )
    await fill(page, "#entry-search", "")
    await click(page, "Find")

    # The misreads a fuzzy entry accepts, and the stored plate it hit.
    await page.wait_for("!!document.querySelector('[aria-label=\"Preview misreads of FZ8123\"]')")
    await page.evaluate(
        "document.querySelector('[aria-label=\"Preview misreads of FZ8123\"]').click()"
    )
    await page.wait_for(
        all_of(
            f"{inner_text('table.misreads')}.includes('FZB123')",
            f"{inner_text(MISREADS)}.includes('Stored plates it would have hit')",
        ),
        timeout=10,
    )
    hits = await page.evaluate(inner_text(MISREADS))
    assert "0.25" in hits
    await page.evaluate(f"document.querySelector({json.dumps(MISREADS)}).scrollIntoView()")
    await page.screenshot(ARTIFACTS / "lists-misreads.png")
    await click(page, "Close the preview")

    # Import: previewed as a diff, refused rows with reasons, then applied.
    path = tmp_path / "stolen.csv"
    path.write_text(LIST_FILE)
    await page.set_files("#import-file", path)
    await page.wait_for(
        "[...document.querySelectorAll('button')]"
        ".some((b) => b.innerText == 'Preview import' && !b.disabled)"
    )
    await click(page, "Preview import")
    report = ".import-report"
    await page.wait_for(
        f"{inner_text(report)}.includes('Preview: nothing is changed yet')", timeout=10
    )
    text = await page.evaluate(inner_text(report))
    assert "IMP001 TX" in text and "IMP002 TX" in text
    assert "duplicate of line 2" in text and "Line" in text
    assert await pool.fetchval("SELECT count(*) FROM hotlist_entries WHERE plate LIKE 'IMP%'") == 0
    await page.evaluate(f"document.querySelector({json.dumps(report)}).scrollIntoView()")
    await page.screenshot(ARTIFACTS / "lists-import-preview.png")
    await click(page, "Apply import")
    await page.wait_for(f"{inner_text(report)}.includes('Imported (revision')", timeout=10)
    assert await pool.fetchval("SELECT count(*) FROM hotlist_entries WHERE plate LIKE 'IMP%'") == 2
    await page.wait_for(
        f"{inner_text('section[aria-labelledby=entries-title] tbody')}.includes('IMP002')"
    )
    assert await page.evaluate(UNLABELLED) == []


async def test_holds_placed_and_released_from_the_plate_page(
    base_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{base_url}/#/plate/FZB123")
    await page.wait_for(shows("No legal hold on this plate."), timeout=15)
    await fill(page, "#plate-hold-case", "C-55")
    await fill(page, "#plate-hold-reason", "court order")
    await click(page, "Place hold")
    await page.wait_for(
        f"{inner_text('section[aria-labelledby=holds-title]')}.includes('case C-55')", timeout=10
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM legal_holds"
            " WHERE plate_normalized_text = 'FZB123' AND released_at IS NULL"
        )
        == 1
    )
    audited = await pool.fetchval(
        "SELECT variables FROM audit_log WHERE operation = 'Place' ORDER BY audit_id DESC LIMIT 1"
    )
    assert "C-55" in audited
    await page.screenshot(ARTIFACTS / "plate-hold.png")
    await page.evaluate("document.querySelector('[aria-label^=\"Release hold\"]').click()")
    await page.wait_for("!!document.querySelector('[id^=release-]')")
    await fill(page, "[id^=release-]", "case closed")
    await click(page, "Release")
    await page.wait_for(
        f"{inner_text('section[aria-labelledby=holds-title]')}.includes('Released')", timeout=10
    )
    assert (
        await pool.fetchval(
            "SELECT release_reason FROM legal_holds WHERE plate_normalized_text = 'FZB123'"
        )
        == "case closed"
    )


async def test_holds_placed_and_released_from_the_admin_screen(
    base_url: str, page: Page, pool: asyncpg.Pool[Any]
) -> None:
    await page.goto(f"{base_url}/#/admin")
    await page.wait_for("!!document.querySelector('#admin-hold-plate')", timeout=15)
    await fill(page, "#admin-hold-plate", "wat-002")
    await fill(page, "#admin-hold-case", "C-77")
    await fill(page, "#admin-hold-reason", "inquiry 77")
    await click(page, "Place hold")
    holds = "section[aria-labelledby=holds-title] tbody"
    await page.wait_for(f"{inner_text(holds)}.includes('inquiry 77')", timeout=10)
    assert await page.evaluate(UNLABELLED) == []
    await page.evaluate("document.querySelector('#holds-title').scrollIntoView()")
    await page.screenshot(ARTIFACTS / "admin-holds.png")
    hold_id = await pool.fetchval(
        "SELECT hold_id FROM legal_holds WHERE plate_normalized_text = 'WAT002'"
    )
    await page.evaluate(
        f"document.querySelector('[aria-label=\"Release hold #{hold_id}\"]').click()"
    )
    await fill(page, f"#release-{hold_id}", "inquiry over")
    await click(page, "Release")
    # Released holds leave the list of active ones.
    await page.wait_for(f"!{inner_text(holds)}.includes('inquiry 77')", timeout=10)
    assert await pool.fetchval(
        "SELECT released_at IS NOT NULL FROM legal_holds WHERE hold_id = $1", hold_id
    )
