"""The write path against a real PostgreSQL: counts, replays, partitions, NOTIFY."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.db import DRIVER_ERRORS
from ingestor.writer import NOTIFY_CHANNEL, Writer, write_batch
from schema.errors import RowRejected, StorageUnavailable
from schema.events import PlateEvent, event_from_dict
from sql import migrations
from tests.factories import wire_event
from tests.integration.rollup_checks import (
    miscounted_cameras,
    miscounted_sites,
    mismatched_days,
    mismatched_hours,
    window_counts,
)


def _event(**changes: Any) -> PlateEvent:
    return event_from_dict(wire_event(**changes))


def _camera() -> str:
    return f"cam-{uuid.uuid4().hex[:8]}"


async def _scalar(pool: asyncpg.Pool[Any], query: str, *args: Any) -> Any:
    return await pool.fetchval(query, *args)


async def test_counts_and_rollups(pool: asyncpg.Pool[Any]) -> None:
    camera = _camera()
    hour = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    events = [
        _event(
            camera_id=camera,
            captured_at=(hour + timedelta(minutes=i)).isoformat(),
            plate__text=f"W{camera[-4:]}{i % 3}",
            latency_ms=10 * i,
        )
        for i in range(6)
    ]
    async with pool.acquire() as conn:
        result = await write_batch(conn, events)
    assert (result.stored, result.duplicates) == (6, 0)
    assert len(result.batch_ids) == 1
    stored = await pool.fetchval(
        "SELECT count(*) FROM plate_events WHERE event_id = ANY($1::uuid[])",
        [e.event_id for e in events],
    )
    assert stored == 6

    row = await pool.fetchrow("SELECT * FROM camera_hourly WHERE camera_id = $1", camera)
    assert row is not None
    assert (row["bucket"], row["reads"], row["latency_sum"], row["latency_count"]) == (
        hour,
        6,
        150,
        6,
    )
    assert row["confidence_sum"] == pytest.approx(6 * 0.93)
    plates = await pool.fetch(
        "SELECT * FROM plates WHERE last_camera_id = $1 ORDER BY plate_normalized_text", camera
    )
    assert [p["read_count"] for p in plates] == [2, 2, 2]
    assert plates[0]["first_seen"] == hour and plates[0]["last_seen"] == hour + timedelta(minutes=3)
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 6
    assert (
        await _scalar(pool, "SELECT count(*) FROM plate_cameras WHERE camera_id = $1", camera) == 3
    )
    assert await _scalar(pool, "SELECT new_plates FROM plates_hourly WHERE bucket = $1", hour) >= 3


async def test_replay_changes_nothing(pool: asyncpg.Pool[Any]) -> None:
    camera = _camera()
    events = [_event(camera_id=camera) for _ in range(50)]
    async with pool.acquire() as conn:
        first = await write_batch(conn, events)
        again = await write_batch(conn, events)
        overlap = await write_batch(conn, [*events[:10], _event(camera_id=camera)])
    assert (first.stored, again.stored, again.duplicates) == (50, 0, 50)
    assert (overlap.stored, overlap.duplicates) == (1, 10)
    assert again.batch_ids == ()  # nothing new: nothing announced
    assert (
        await _scalar(pool, "SELECT sum(reads) FROM camera_hourly WHERE camera_id = $1", camera)
        == 51
    )
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 51
    assert (
        await _scalar(pool, "SELECT count(*) FROM plate_events WHERE camera_id = $1", camera) == 51
    )


async def test_writer_is_careful_during_a_replay_only(pool: asyncpg.Pool[Any]) -> None:
    """A conflict switches to the careful path; a clean careful batch switches back."""
    camera = _camera()
    stored = [_event(camera_id=camera) for _ in range(5)]
    writer, other = Writer(), Writer()
    async with pool.acquire() as conn:
        await writer.write(conn, stored)
        assert not writer.careful
        replay = await writer.write(conn, [*stored[:2], _event(camera_id=camera)])
        assert (replay.stored, replay.duplicates) == (1, 2)
        assert writer.careful  # the next batch may be a replay too
        assert not other.careful  # another source's writer is not concerned
        fresh = await writer.write(conn, [_event(camera_id=camera)])
        assert fresh.stored == 1
        assert not writer.careful  # nothing met: back to the fast path
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 7


async def test_two_writers_of_one_batch_store_it_once(pool: asyncpg.Pool[Any]) -> None:
    """The second COPY waits for the first, meets its keys and goes the careful way."""
    camera = _camera()
    plate = f"T{uuid.uuid4().hex[:6].upper()}"
    events = [_event(camera_id=camera, plate__text=plate) for _ in range(200)]

    async def write() -> tuple[int, int]:
        async with pool.acquire() as conn:
            result = await write_batch(conn, events)
        return result.stored, result.duplicates

    results = sorted(await asyncio.gather(write(), write()))
    assert results == [(0, 200), (200, 0)]
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 200
    assert (
        await _scalar(pool, "SELECT read_count FROM plates WHERE plate_normalized_text = $1", plate)
        == 200
    )


async def test_repeat_inside_one_batch_is_a_duplicate(pool: asyncpg.Pool[Any]) -> None:
    event = _event(camera_id=_camera())
    async with pool.acquire() as conn:
        result = await write_batch(conn, [event, event])
    assert (result.stored, result.duplicates) == (1, 1)


async def test_plate_last_values_follow_newest_read(pool: asyncpg.Pool[Any]) -> None:
    plate = f"N{uuid.uuid4().hex[:6].upper()}"
    new = _event(plate__text=plate, camera_id="cam-new", captured_at="2026-11-27T12:00:00Z")
    old = _event(plate__text=plate, camera_id="cam-old", captured_at="2026-11-27T08:00:00Z")
    async with pool.acquire() as conn:
        await write_batch(conn, [new])
        await write_batch(conn, [old])  # arrives late: must not win
    row = await pool.fetchrow("SELECT * FROM plates WHERE plate_normalized_text = $1", plate)
    assert row is not None
    assert row["last_camera_id"] == "cam-new" and row["read_count"] == 2
    assert row["first_seen"] == datetime(2026, 11, 27, 8, tzinfo=UTC)


async def test_partition_made_for_an_old_day(pool: asyncpg.Pool[Any]) -> None:
    # Far outside the window the migration pre-creates.
    event = _event(camera_id=_camera(), captured_at="2019-03-04T05:06:07+02:00")
    async with pool.acquire() as conn:
        result = await write_batch(conn, [event])
    assert result.stored == 1
    assert (
        await _scalar(pool, "SELECT count(*) FROM plate_events WHERE event_id = $1", event.event_id)
        == 1
    )
    if await _scalar(pool, "SELECT engine FROM alpr_engine") == "postgres":
        assert await _scalar(pool, "SELECT to_regclass('plate_events_p20190304')") is not None


async def test_forgotten_partition_is_recreated(pool: asyncpg.Pool[Any]) -> None:
    if await _scalar(pool, "SELECT engine FROM alpr_engine") != "postgres":
        pytest.skip("TimescaleDB makes its own chunks")
    first = _event(captured_at="2018-01-02T03:00:00Z")
    writer = Writer()
    async with pool.acquire() as conn:
        await writer.write(conn, [first])
        # Retention drops the day behind the writer's back: its cache says it is there.
        await conn.execute("DROP TABLE plate_events_p20180102")
        second = await writer.write(conn, [_event(captured_at="2018-01-02T04:00:00Z")])
    assert second.stored == 1


async def test_notify_only_after_commit(pool: asyncpg.Pool[Any], database_url: str) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
    events = [_event(camera_id=_camera()) for _ in range(3)]
    try:
        async with pool.acquire() as conn:
            outer = conn.transaction()
            await outer.start()
            result = await write_batch(conn, events)
            await asyncio.sleep(0.3)
            assert heard.empty()  # written, not committed: nobody may hear of it
            assert (
                await listener.fetchval(
                    "SELECT count(*) FROM plate_events WHERE event_id = $1", events[0].event_id
                )
                == 0
            )
            await outer.commit()
        payload = await asyncio.wait_for(heard.get(), 5)
        assert int(payload) == result.batch_ids[0]
        ids = await listener.fetchval(
            "SELECT event_ids FROM stored_batches WHERE batch_id = $1", int(payload)
        )
        assert sorted(ids) == sorted(e.event_id for e in events)
    finally:
        await listener.close()


async def test_rolled_back_batch_is_not_announced(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
    try:
        async with pool.acquire() as conn:
            outer = conn.transaction()
            await outer.start()
            await write_batch(conn, [_event()])
            await outer.rollback()
        await asyncio.sleep(0.3)
        assert heard.empty()
    finally:
        await listener.close()


def _too_long_camera() -> PlateEvent:
    # Slips past validation the way a schema drift would; the database refuses it.
    good = _event()
    return PlateEvent.model_construct(**{**good.model_dump(), "camera_id": "c" * 60})


async def test_bad_row_rejects_whole_batch(pool: asyncpg.Pool[Any]) -> None:
    camera = _camera()
    async with pool.acquire() as conn:
        with pytest.raises(RowRejected):
            await write_batch(conn, [_event(camera_id=camera), _too_long_camera()])
    assert (
        await _scalar(pool, "SELECT count(*) FROM plate_events WHERE camera_id = $1", camera) == 0
    )


async def test_isolating_stores_the_good_rows(pool: asyncpg.Pool[Any]) -> None:
    camera = _camera()
    good = [_event(camera_id=camera) for _ in range(20)]
    bad = [_too_long_camera(), _too_long_camera()]
    batch = [*good[:7], bad[0], *good[7:15], bad[1], *good[15:]]
    async with pool.acquire() as conn:
        outcome = await Writer().write_isolating(conn, batch)
    assert outcome.stored == 20
    assert [r.event for r in outcome.rejected] == bad
    assert all("too long" in r.reason for r in outcome.rejected)
    assert (
        await _scalar(pool, "SELECT count(*) FROM plate_events WHERE camera_id = $1", camera) == 20
    )
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 20


async def test_concurrent_writers_share_plates(pool: asyncpg.Pool[Any]) -> None:
    # Same plates and cameras from four connections at once: no deadlock
    # escapes, and the counts add up exactly.
    camera = _camera()
    plates = [f"C{uuid.uuid4().hex[:5].upper()}" for _ in range(30)]
    batches = [
        [_event(camera_id=camera, plate__text=p) for p in (plates if k % 2 else plates[::-1])]
        for k in range(8)
    ]

    async def write(batch: list[PlateEvent]) -> int:
        async with pool.acquire() as conn:
            return (await write_batch(conn, batch)).stored

    stored = await asyncio.gather(*(write(b) for b in batches))
    assert sum(stored) == 240
    plates_seen = "SELECT plates FROM camera_plate_counts WHERE camera_id = $1"
    assert await _scalar(pool, plates_seen, camera) == 30  # each pair counted once
    assert await mismatched_hours(pool) == []
    assert await _scalar(pool, "SELECT read_count FROM cameras WHERE camera_id = $1", camera) == 240
    assert (
        await _scalar(
            pool, "SELECT sum(read_count) FROM plates WHERE plate_normalized_text = ANY($1)", plates
        )
        == 240
    )


async def test_plate_day_bits_count_what_plate_days_list(pool: asyncpg.Pool[Any]) -> None:
    # Two writers at once over shared plates, days out of order: every day's
    # bitmap holds its plate-days, a window's OR its distinct plates, and the
    # new plates' numbers are dense (one drawn per plate, none per upsert).
    rng = random.Random(44)
    first_day = date(2031, 3, 1)
    plates = [f"D{uuid.uuid4().hex[:6].upper()}" for _ in range(60)]
    cameras = [_camera() for _ in range(3)]

    def read() -> PlateEvent:
        day = first_day + timedelta(days=rng.randrange(4))
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86400)
        )
        return _event(
            camera_id=rng.choice(cameras),
            plate__text=rng.choice(plates),
            captured_at=at.isoformat(),
        )

    async def write(batch: list[PlateEvent]) -> None:
        async with pool.acquire() as conn:
            await write_batch(conn, batch)

    for _ in range(3):
        await asyncio.gather(*(write([read() for _ in range(50)]) for _ in range(2)))

    assert await mismatched_days(pool) == []
    for start, length in ((0, 1), (0, 4), (1, 2), (2, 2)):
        begin = first_day + timedelta(days=start)
        bits, listed = await window_counts(pool, begin, begin + timedelta(days=length))
        assert bits == listed > 0
    ids = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT plate_id) AS distinct_ids, "
        "max(plate_id) - min(plate_id) + 1 AS span FROM plate_numbers "
        "WHERE plate_normalized_text = ANY($1)",
        plates,
    )
    assert ids is not None
    assert ids["n"] == ids["distinct_ids"] == ids["span"] > len(plates) // 2
    # The backfill (and retention's rebuild) make the same bitmaps.
    mine = "SELECT day, chunk, bits FROM plate_day_bits WHERE day >= $1 ORDER BY 1, 2"
    kept = await pool.fetch(mine, first_day)
    await pool.execute("SELECT alpr_rebuild_plate_day_bits(NULL)")
    assert await pool.fetch(mine, first_day) == kept


async def test_site_plate_counts_count_each_plate_once_per_site(
    pool: asyncpg.Pool[Any],
) -> None:
    # Two writers at once, shared plates on three sites, then a replay: each
    # site counts the distinct plates of its reads, once.
    rng = random.Random(45)
    sites = [f"site-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    plates = [f"S{uuid.uuid4().hex[:6].upper()}" for _ in range(40)]

    def batch() -> list[PlateEvent]:
        return [
            _event(node__site=rng.choice(sites), plate__text=rng.choice(plates)) for _ in range(60)
        ]

    async def write(events: list[PlateEvent]) -> None:
        async with pool.acquire() as conn:
            await write_batch(conn, events)

    batches = [batch() for _ in range(4)]
    await asyncio.gather(*(write(b) for b in batches))
    await write(batches[0])  # a replay stores nothing and counts nothing
    expected = {
        site: len({e.plate_normalized_text for b in batches for e in b if e.site_id == site})
        for site in sites
    }
    counts = await pool.fetch(
        "SELECT site_id, plates FROM site_plate_counts WHERE site_id = ANY($1)", sites
    )
    assert {row["site_id"]: row["plates"] for row in counts} == expected
    assert await miscounted_sites(pool) == []
    assert await miscounted_cameras(pool) == []
    assert await mismatched_hours(pool) == []


async def test_old_announcements_are_pruned(pool: asyncpg.Pool[Any]) -> None:
    from ingestor.writer import prune_announcements

    async with pool.acquire() as conn:
        old = (await write_batch(conn, [_event()])).batch_ids[0]
        new = (await write_batch(conn, [_event()])).batch_ids[0]
        await conn.execute(
            "UPDATE stored_batches SET stored_at = now() - interval '2 hours' WHERE batch_id = $1",
            old,
        )
        assert await prune_announcements(conn) >= 1
    left = await pool.fetchval(
        "SELECT array_agg(batch_id) FROM stored_batches WHERE batch_id = ANY($1)", [old, new]
    )
    assert left == [new]


async def test_search_index_lists_are_merged(pool: asyncpg.Pool[Any]) -> None:
    from ingestor.writer import merge_search_pending

    fresh = [_event(plate__text=f"MRG{uuid.uuid4().hex[:6].upper()}") for _ in range(200)]
    async with pool.acquire() as conn:
        await merge_search_pending(conn)
        await write_batch(conn, fresh)
        # New plates wait in the fast-update lists until merged, in bulk.
        assert await merge_search_pending(conn) > 0
        assert await merge_search_pending(conn) == 0
        # A plate update is HOT: it adds nothing to the lists.
        await write_batch(conn, [_event(plate__text=fresh[0].plate_text)])
        assert await merge_search_pending(conn) == 0


async def test_two_writers_meeting_a_new_day_both_succeed(pool: asyncpg.Pool[Any]) -> None:
    day = datetime(2018, 3, 4, 12, tzinfo=UTC)
    for attempt in range(5):
        when = day + timedelta(days=attempt)
        writer = Writer()  # all three connections start without the day in its cache
        batches = [[_event(captured_at=when.isoformat())] for _ in range(4)]
        async with pool.acquire() as a, pool.acquire() as b, pool.acquire() as c:
            results = await asyncio.gather(
                *(
                    writer.write(conn, batch)
                    for conn, batch in zip((a, b, c), batches, strict=False)
                )
            )
        assert [r.stored for r in results] == [1, 1, 1]


async def test_camera_totals_match_the_daily_rollup(pool: asyncpg.Pool[Any]) -> None:
    """cameras' all-time sums (0043) equal camera_daily's, and 0043's backfill
    recomputes them from camera_daily for a database that had reads before."""
    camera = _camera()
    events = [
        _event(
            camera_id=camera,
            captured_at=f"2026-11-{10 + i % 3}T0{i % 9}:00:00Z",
            latency_ms=None if i % 4 == 0 else i,
        )
        for i in range(30)
    ]
    async with pool.acquire() as conn:
        for start in range(0, 30, 7):
            await write_batch(conn, events[start : start + 7])
    daily = """SELECT sum(reads), sum(confidence_sum), sum(latency_sum), sum(latency_count)
               FROM camera_daily WHERE camera_id = $1"""
    totals = """SELECT read_count, confidence_sum, latency_sum, latency_count
                FROM cameras WHERE camera_id = $1"""
    expected = tuple(await pool.fetchrow(daily, camera))
    assert expected[0] == 30 and expected[3] == 22
    assert tuple(await pool.fetchrow(totals, camera)) == pytest.approx(expected)

    backfill = next(m.sql for m in migrations("postgres") if m.version == 43)
    update = backfill[backfill.index("UPDATE cameras") :]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE cameras SET confidence_sum = 0, latency_sum = 0, latency_count = 0"
            " WHERE camera_id = $1",
            camera,
        )
        await conn.execute(update)
        assert tuple(await conn.fetchrow(totals, camera)) == pytest.approx(expected)


async def test_a_connection_cut_under_the_writer_is_an_outage(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    # The server ends the session (a shutdown, a failover) as the writer
    # starts: the driver's error, whichever it is, means "retry later". Which
    # one depends on timing: here mostly ConnectionDoesNotExistError, about
    # one cut in 75 the protocol's own state error (InternalClientError),
    # whose translation tests/unit/test_db.py pins.
    admin = await asyncpg.connect(database_url)
    try:
        for _ in range(30):
            async with pool.acquire() as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                with pytest.raises(StorageUnavailable) as caught:
                    await Writer().write(conn, [_event()])
            assert isinstance(caught.value.__cause__, DRIVER_ERRORS)
    finally:
        await admin.close()


_PLATES_HOURLY_DIFF = """
WITH first AS (
    SELECT date_trunc('hour', min(captured_at), 'UTC') AS bucket
    FROM plate_events WHERE plate_normalized_text = ANY($1)
    GROUP BY plate_normalized_text
), expected AS (SELECT bucket, count(*) AS n FROM first GROUP BY bucket)
SELECT COALESCE(e.bucket, h.bucket) AS bucket, e.n AS expected, h.new_plates AS found
FROM expected e
FULL JOIN (SELECT * FROM plates_hourly WHERE bucket >= $2 AND bucket < $3) h USING (bucket)
WHERE COALESCE(e.n, 0) <> COALESCE(h.new_plates, 0)
"""


async def test_plates_hourly_counts_a_plate_in_the_hour_of_its_first_capture(
    pool: asyncpg.Pool[Any],
) -> None:
    # Concurrent writers, each plate's reads spread over hours and sent in
    # every order: a read captured before a plate's first one moves its count.
    rng = random.Random(12)
    start = datetime(2033, 5, 1, tzinfo=UTC)  # hours no other test writes
    plates = [f"H{uuid.uuid4().hex[:6].upper()}" for _ in range(40)]
    reads = [
        _event(
            plate__text=plate,
            camera_id=_camera(),
            captured_at=(start + timedelta(minutes=rng.randrange(12 * 60))).isoformat(),
        )
        for plate in plates
        for _ in range(6)
    ]
    rng.shuffle(reads)
    batches = [reads[i : i + 20] for i in range(0, len(reads), 20)]

    async def write(batches: list[list[PlateEvent]]) -> None:
        async with pool.acquire() as conn:
            for batch in batches:
                await Writer().write(conn, batch)

    await asyncio.gather(*(write(batches[k::4]) for k in range(4)))
    end = start + timedelta(hours=12)
    assert await pool.fetch(_PLATES_HOURLY_DIFF, plates, start, end) == []
    total = "SELECT sum(new_plates) FROM plates_hourly WHERE bucket >= $1 AND bucket < $2"
    assert await _scalar(pool, total, start, end) == len(plates)
