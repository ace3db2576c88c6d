"""Retention with legal hold, on a real database of either engine.

Held reads survive and the others go; whole partitions (chunks) are dropped
when nothing inside is held; per-site ages; every deletion is recorded; a
released hold lets its reads go; plates with no read left are purged.
Each test gets its own migrated database: retention drops partitions.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from core.holds import HoldRequest, add_hold, list_holds, release_holds
from core.migrate import migrate
from ingestor.retention import LOCK_KEY, RetentionPolicy, retention_loop, run_retention
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import wire_event
from tests.integration.rollup_checks import miscounted_cameras, miscounted_sites, mismatched_days

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
async def db(pg_admin_url: str) -> AsyncIterator[tuple[str, asyncpg.Pool[Any]]]:
    url = await create_database(pg_admin_url)
    await migrate(url, os.environ.get("ALPR_TEST_DB_ENGINE", "auto"))  # type: ignore[arg-type]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
    assert pool is not None
    yield url, pool
    await pool.close()
    await drop_database(pg_admin_url, url)


def _event(days_ago: float, plate: str = "ABC123", site: str = "DC1") -> PlateEvent:
    at = NOW - timedelta(days=days_ago)
    return event_from_dict(
        wire_event(captured_at=at.isoformat(), plate__text=plate, node={"site": site})
    )


async def _store(pool: asyncpg.Pool[Any], events: list[PlateEvent]) -> None:
    async with pool.acquire() as conn:
        result = await write_batch(conn, events)
    assert result.stored == len(events)


async def _ids(pool: asyncpg.Pool[Any]) -> set[UUID]:
    """The stored reads' ids, after checking that event_ids claims exactly them."""
    stored = await pool.fetch("SELECT event_id, captured_at FROM plate_events")
    claimed = await pool.fetch("SELECT event_id, captured_at FROM event_ids")
    assert {tuple(r) for r in claimed} == {tuple(r) for r in stored}
    return {r["event_id"] for r in stored}


async def _partition_days(pool: asyncpg.Pool[Any]) -> set[datetime]:
    rows = await pool.fetch("SELECT range_start FROM alpr_time_partitions()")
    return {r["range_start"] for r in rows}


async def _retain(pool: asyncpg.Pool[Any], policy: RetentionPolicy) -> Any:
    async with pool.acquire() as conn:
        return await run_retention(conn, policy, now=NOW)


def _hold(**kwargs: Any) -> HoldRequest:
    return HoldRequest(reason="case file", created_by="investigator", **kwargs)


async def test_held_reads_survive_and_the_others_go(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    free_day = [_event(45), _event(45.1, "ZZZ999")]
    held_day = [_event(40, "HELD1"), _event(40.1, "HELD2"), _event(40.2, "FREE1")]
    boundary = [_event(30.2, "OLDBOUND"), _event(29.8, "NEWBOUND")]
    recent = [_event(1), _event(0.1, "RECENT")]
    await _store(pool, free_day + held_day + boundary + recent)
    await add_hold(pool, _hold(event_id=held_day[0].event_id))
    await add_hold(pool, _hold(plate="held-2", case_number="C-7"))
    free_day_start = (NOW - timedelta(days=45)).replace(hour=0)
    assert free_day_start in await _partition_days(pool)

    report = await _retain(pool, RetentionPolicy(default_days=30))

    survivors = await _ids(pool)
    expected = {held_day[0].event_id, held_day[1].event_id, boundary[1].event_id}
    expected |= {e.event_id for e in recent}
    assert survivors == expected
    assert report.deleted_rows == 4
    assert report.held_rows_kept == 2
    # The day without holds went as a whole partition (or chunk).
    assert free_day_start not in await _partition_days(pool)
    methods = {(d.method, d.row_count, d.held_rows_kept) for d in report.deletions}
    assert ("drop_partition", 2, 0) in methods
    assert ("delete_rows", 1, 2) in methods
    # Everything is on record: the run and each deletion with range and count.
    run = await pool.fetchrow("SELECT * FROM retention_runs WHERE run_id = $1", report.run_id)
    assert run is not None
    assert run["finished_at"] is not None and run["error"] is None
    assert run["deleted_rows"] == 4 and run["default_days"] == 30
    recorded = await pool.fetch(
        "SELECT method, row_count, range_start, range_end FROM retention_deletions "
        "WHERE run_id = $1",
        report.run_id,
    )
    assert sum(r["row_count"] for r in recorded if r["method"] != "purge_plates") == 4
    assert all(r["range_end"] <= NOW - timedelta(days=30) for r in recorded)
    # The plate bitmaps follow the plate-days that are left.
    assert await pool.fetchval("SELECT count(*) FROM plate_days") > 0
    assert await mismatched_days(pool) == []
    assert await miscounted_sites(pool) == []
    assert await miscounted_cameras(pool) == []
    gone = await pool.fetchval(
        "SELECT count(*) FROM plate_sites WHERE plate_normalized_text = ANY($1)",
        ["ZZZ999", "OLDBOUND"],
    )
    assert gone == 0


async def test_a_released_hold_lets_its_reads_go(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    old = [_event(50, "CASE1"), _event(50.1, "CASE1"), _event(50.2, "OTHER")]
    await _store(pool, old)
    hold = await add_hold(pool, _hold(plate="CASE1", case_number="C-1"))
    first = await _retain(pool, RetentionPolicy(default_days=30))
    assert await _ids(pool) == {old[0].event_id, old[1].event_id}
    assert first.held_rows_kept == 2
    # A second run deletes nothing more and records nothing empty.
    again = await _retain(pool, RetentionPolicy(default_days=30))
    assert again.deleted_rows == 0
    # The held plate's day stays countable while its reads are kept.
    assert await pool.fetchval("SELECT array_agg(plate_normalized_text) FROM plate_days") == [
        "CASE1"
    ]
    released = await release_holds(pool, released_by="dpo", reason="case closed", case_number="C-1")
    assert released == [hold.hold_id]
    assert await list_holds(pool) == []
    history = await list_holds(pool, active_only=False)
    assert history[0].released_by == "dpo" and not history[0].active
    last = await _retain(pool, RetentionPolicy(default_days=30))
    assert await _ids(pool) == set()
    assert last.deleted_rows == 2
    # With no read left, the plate's own rows (plate text) are purged too.
    assert await pool.fetchval("SELECT count(*) FROM plates") == 0
    assert await pool.fetchval("SELECT count(*) FROM plate_cameras") == 0
    assert await pool.fetchval("SELECT count(*) FROM plate_days") == 0
    assert await pool.fetchval("SELECT count(*) FROM plate_day_bits") == 0
    assert await pool.fetchval("SELECT count(*) FROM plate_sites") == 0
    assert await pool.fetchval("SELECT sum(plates) FROM site_plate_counts") == 0
    assert await pool.fetchval("SELECT sum(plates) FROM camera_plate_counts") == 0


async def test_plate_hold_window_and_site_overrides(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    in_window = _event(60, "WIN1")
    out_window = _event(70, "WIN1")
    short_site = _event(10, "SHORT", site="DC2")
    long_site_old = _event(100, "LONG", site="DC3")
    long_site_oldest = _event(400, "LONG", site="DC3")
    default_site = _event(10, "DEFAULT", site="DC1")
    await _store(
        pool, [in_window, out_window, short_site, long_site_old, long_site_oldest, default_site]
    )
    await add_hold(
        pool,
        _hold(
            plate="WIN1", held_from=NOW - timedelta(days=61), held_until=NOW - timedelta(days=59)
        ),
    )
    policy = RetentionPolicy(default_days=30, site_days={"DC2": 5, "DC3": 365})
    report = await _retain(pool, policy)
    assert await _ids(pool) == {in_window.event_id, long_site_old.event_id, default_site.event_id}
    sites = {d.site_id for d in report.deletions if d.method == "delete_rows"}
    assert "DC2" in sites
    # Counts follow what purging left, at each grain.
    assert await miscounted_cameras(pool) == []
    assert await miscounted_sites(pool) == []
    assert await mismatched_days(pool) == []


async def test_only_one_run_at_a_time(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    await _store(pool, [_event(50)])
    async with pool.acquire() as other:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        report = await _retain(pool, RetentionPolicy(default_days=30))
        await other.fetchval("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    assert report.run_id is None
    assert len(await _ids(pool)) == 1
    assert (await _retain(pool, RetentionPolicy())).run_id is None  # off: nothing runs


def test_hold_requests_are_validated() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        HoldRequest(reason="r", created_by="me")
    with pytest.raises(ValueError, match="exactly one"):
        HoldRequest(event_id=UUID(int=1), plate="ABC", reason="r", created_by="me")
    with pytest.raises(ValueError, match="reason"):
        HoldRequest(plate="ABC", reason=" ", created_by="me")
    with pytest.raises(ValueError, match="letters or digits"):
        HoldRequest(plate="--", reason="r", created_by="me")
    assert HoldRequest(plate="abc-123", reason="r", created_by="me").normalized_plate() == "ABC123"


def _alpr(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALPR_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alpr", *args], capture_output=True, text=True, env=env, timeout=60
    )


async def test_hold_and_retention_commands(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    url, pool = db
    old = [_event(50, "CLI1"), _event(50.1, "CLI2")]
    await _store(pool, old)
    added = _alpr(
        url,
        "hold",
        "add",
        "--event-id",
        str(old[0].event_id),
        "--case",
        "K-9",
        "--reason",
        "subpoena 12",
        "--by",
        "clerk",
    )
    assert added.returncode == 0, added.stderr
    listed = _alpr(url, "hold", "list")
    assert "K-9" in listed.stdout and "subpoena 12" in listed.stdout
    ran = _alpr(url, "retention", "run", "--days", "30")
    assert ran.returncode == 0, ran.stderr
    assert "1 reads deleted" in ran.stdout
    assert await _ids(pool) == {old[0].event_id}
    released = _alpr(url, "hold", "release", "--case", "K-9", "--reason", "done", "--by", "clerk")
    assert released.returncode == 0, released.stderr
    assert await list_holds(pool) == []
    # Without a configured age the command refuses rather than guess.
    refused = _alpr(url, "retention", "run")
    assert refused.returncode != 0


async def test_the_service_loop_applies_retention(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    await _store(pool, [_event(50), _event(0)])
    stop = asyncio.Event()
    loop = asyncio.create_task(retention_loop(pool, RetentionPolicy(default_days=30), 3600, stop))
    for _ in range(100):
        if await pool.fetchval("SELECT count(*) FROM retention_runs WHERE finished_at IS NOT NULL"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert len(await _ids(pool)) == 1
    assert await pool.fetchval("SELECT count(*) FROM retention_runs") == 1


async def test_site_ages_alone_keep_other_sites_forever(db: tuple[str, asyncpg.Pool[Any]]) -> None:
    _, pool = db
    kept = _event(500, "FOREVER", site="DC1")
    gone = _event(500, "SHORTLIVED", site="DC2")
    await _store(pool, [kept, gone])
    report = await _retain(pool, RetentionPolicy(site_days={"DC2": 5}))
    assert await _ids(pool) == {kept.event_id}
    assert [(d.method, d.site_id, d.row_count) for d in report.deletions] == [
        ("delete_rows", "DC2", 1)
    ]
    # The partition stays (DC1 still has a read in it) and plates are kept.
    assert await pool.fetchval(
        "SELECT count(*) FROM plates WHERE plate_normalized_text = 'FOREVER'"
    )


@pytest.mark.timescaledb
async def test_compressed_chunks_on_timescaledb(
    db: tuple[str, asyncpg.Pool[Any]], timescaledb_available: bool
) -> None:
    _, pool = db
    if await pool.fetchval("SELECT engine FROM alpr_engine") != "timescaledb":
        pytest.skip(
            "timescaledb extension not loadable on the test server "
            "(set ALPR_TEST_DATABASE_URL to a server with it preloaded)"
        )
    free = [_event(45, "CFREE1"), _event(45.1, "CFREE2")]
    mixed = [_event(40, "CHELD"), _event(40.1, "CGONE")]
    await _store(pool, free + mixed)
    # Old chunks are normally compressed by the policy; do it now.
    compressed = await pool.fetch(
        "SELECT compress_chunk(c) FROM show_chunks('plate_events', older_than => "
        "INTERVAL '30 days') AS c"
    )
    assert len(compressed) == 2
    await add_hold(pool, _hold(plate="CHELD"))
    report = await _retain(pool, RetentionPolicy(default_days=30))
    assert await _ids(pool) == {mixed[0].event_id}
    assert {(d.method, d.row_count, d.held_rows_kept) for d in report.deletions} >= {
        ("drop_partition", 2, 0),
        ("delete_rows", 1, 1),
    }
    assert timescaledb_available
