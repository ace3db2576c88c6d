"""The plate-ordered copy of compressed days (TimescaleDB,
0072_plate_copy.timescaledb.sql) holds exactly its ranges' reads of
plate_events when the fill, a writer's late read and retention's release
meet on one range: whichever commits first, a read is copied once, and a
released range keeps nothing. Plain PostgreSQL keeps no copy: its functions
do nothing there."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from alpr.status import database_status, storage_lines
from ingestor.storage import fill_plate_copy, refresh_storage_gauges
from ingestor.writer import Writer
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event

EPOCH, RANGE = datetime(1970, 1, 1, tzinfo=UTC), timedelta(days=30)
# Three whole ranges, the newest ending at least 40 days ago, and a read in
# the range after them, so that the three end inside the compressed days.
R0 = EPOCH + (datetime.now(UTC) - timedelta(days=130) - EPOCH) // RANGE * RANGE
R1, R2, R3 = R0 + RANGE, R0 + 2 * RANGE, R0 + 3 * RANGE


def _read(plate: str, at: datetime) -> PlateEvent:
    return event_from_dict(
        wire_event(captured_at=at.isoformat(), camera_id="copy-cam", plate__text=plate)
    )


@pytest.fixture(scope="module")
async def compressed(pool: asyncpg.Pool[Any]) -> AsyncIterator[None]:
    if await pool.fetchval("SELECT engine FROM alpr_engine") != "timescaledb":
        assert await pool.fetchval("SELECT alpr_fill_plate_copy()") is None
        assert await pool.fetchval("SELECT alpr_release_plate_copy(now(), now())") == 0
        pytest.skip("plain PostgreSQL keeps no plate-ordered copy")
    rng = random.Random(72)
    reads = [  # a read a day: every day of the three ranges has its chunk
        _read(f"CP{rng.randrange(20)}", start + timedelta(days=day, hours=rng.randrange(24)))
        for start in (R0, R1, R2)
        for day in range(30)
    ]
    reads.append(_read("CPNEXT", R3 + timedelta(days=1)))
    async with pool.acquire() as conn:
        assert (await Writer().write(conn, reads)).stored == len(reads)
    await pool.execute("SELECT count(compress_chunk(c)) FROM show_chunks('plate_events') AS c")
    yield


async def _copy_matches(pool: asyncpg.Pool[Any], start: datetime) -> int:
    """The copy holds exactly the range's reads of plate_events (each once); how many."""
    query = "SELECT event_id FROM {} WHERE captured_at >= $1 AND captured_at < $2 ORDER BY event_id"
    copied = await pool.fetch(query.format("plate_copy"), start, start + RANGE)
    stored = await pool.fetch(query.format("plate_events"), start, start + RANGE)
    assert copied == stored
    return len(copied)


async def _blocked(pool: asyncpg.Pool[Any], work: Awaitable[Any], pid: int) -> asyncio.Task[Any]:
    """`work` started, once the backend `pid` waits on a lock for it."""
    task = asyncio.ensure_future(work)
    for _ in range(200):
        waiting = await pool.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return task
        assert not task.done(), "it did not wait"
        await asyncio.sleep(0.02)
    raise AssertionError("it never waited")


async def test_a_late_read_stored_while_its_range_is_filled_is_copied_once(
    pool: asyncpg.Pool[Any], compressed: None
) -> None:
    """The writer holds its range when the fill comes: the fill waits for its
    commit and copies the read; then a fill that holds a range makes the
    next writer wait, and that writer copies its own read."""
    writer, filler = await pool.acquire(), await pool.acquire()
    try:
        late = _read("CPLATE", R2 + timedelta(days=3))
        async with writer.transaction():
            assert (await Writer().write(writer, [late])).stored == 1
            fill = await _blocked(pool, fill_plate_copy(filler), filler.get_server_pid())
        assert await fill == 31  # R2, the newest range ready: its 30 reads and the late one
        assert await _copy_matches(pool, R2) == 31

        late = _read("CPLATE", R1 + timedelta(days=3))
        async with filler.transaction():
            assert await fill_plate_copy(filler) == 30  # R1, not committed yet
            write = await _blocked(pool, Writer().write(writer, [late]), writer.get_server_pid())
        assert (await write).stored == 1
        assert await _copy_matches(pool, R1) == 31
    finally:
        await pool.release(writer)
        await pool.release(filler)


async def test_a_release_waits_for_a_late_read_and_then_takes_it(
    pool: asyncpg.Pool[Any], compressed: None
) -> None:
    """A late read into a copied range, uncommitted, holds retention's
    release; the release then drops the range's chunk of the copy with the
    read in it, and later reads for the range go to plate_events alone."""
    writer, keeper = await pool.acquire(), await pool.acquire()
    try:
        assert await _copy_matches(pool, R2) == 31
        in_r2 = "SELECT count(*) FROM plate_copy WHERE captured_at >= $1 AND captured_at < $2"
        async with writer.transaction():
            await Writer().write(writer, [_read("CPLATE2", R2 + timedelta(days=4))])
            assert await pool.fetchval(in_r2, R2, R2 + RANGE) == 31  # not committed yet
            releasing = keeper.fetchval("SELECT alpr_release_plate_copy($1, $2)", R2, R2 + RANGE)
            release = await _blocked(pool, releasing, keeper.get_server_pid())
        assert await release == 1
        assert await pool.fetchval(in_r2, R2, R2 + RANGE) == 0
        assert (await Writer().write(writer, [_read("CPLATE3", R2 + timedelta(days=5))])).stored
        assert await pool.fetchval(in_r2, R2, R2 + RANGE) == 0
        released = await pool.fetchval(
            "SELECT released_at IS NOT NULL FROM plate_copy_ranges WHERE range_start = $1", R2
        )
        assert released
        # The oldest range is filled next; the released one never again.
        assert await fill_plate_copy(writer) == 30
        assert await _copy_matches(pool, R0) == 30
        assert await fill_plate_copy(writer) == 0
        # What the operator sees: two ranges held, the released one not counted.
        await refresh_storage_gauges(writer)
        facts = await database_status(writer)
        line = storage_lines(facts["storage"], datetime.now(UTC))[-1]
        assert line.startswith("plate copy      2 ranges of 30 compressed days, ")
        assert "last filled 0s ago" in line or "last filled 1s ago" in line
        assert REGISTRY.get_sample_value("alpr_storage_plate_copy_ranges") == 2
        per_read = REGISTRY.get_sample_value("alpr_storage_plate_copy_bytes_per_read")
        assert per_read is not None and per_read > 0
    finally:
        await pool.release(writer)
        await pool.release(keeper)


async def test_the_copy_is_kept_under_read_committed_only(
    pool: asyncpg.Pool[Any], compressed: None
) -> None:
    """Its lock-then-look steps need a snapshot taken after the lock: a
    transaction with one snapshot for all its statements is refused."""
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="READ COMMITTED only, not repeatable read"):
            async with conn.transaction(isolation="repeatable_read"):
                await conn.fetchval(
                    "SELECT alpr_release_plate_copy($1, $2)", R3 + RANGE, R3 + 2 * RANGE
                )
    assert not await pool.fetchval(
        "SELECT count(*) FROM plate_copy_ranges WHERE range_start > $1", R3
    )
