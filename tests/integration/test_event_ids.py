"""One event id, one read: a second read with a stored id is a duplicate when it
is the same read, and refused ("conflicting duplicate") when its content
differs; on the fast path and the careful one, inside one batch, between
concurrent writers; backfilled from the reads stored before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

import sql
from gateway.queries import fetch_event
from ingestor.writer import Writer
from schema.events import PlateEvent, event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import wire_event

CAPTURED = datetime(2026, 11, 27, 10, tzinfo=UTC)


def _event(**changes: Any) -> PlateEvent:
    values = {"captured_at": CAPTURED.isoformat(), "camera_id": "ids-cam", **changes}
    return event_from_dict(wire_event(**values))


def _moved(event: PlateEvent, **update: Any) -> PlateEvent:
    return event.model_copy(update=update)


async def _rows(pool: asyncpg.Pool[Any], event_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM plate_events WHERE event_id = $1", event_id)


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
async def test_a_stored_id_with_another_time_is_refused(
    pool: asyncpg.Pool[Any], careful: bool
) -> None:
    first = _event()
    later = _moved(first, captured_at=CAPTURED + timedelta(hours=3))
    writer = Writer()
    async with pool.acquire() as conn:
        await writer.write(conn, [first])
        writer.careful = careful
        other = _event()
        result = await writer.write(conn, [later, other])
    assert (result.stored, result.duplicates) == (1, 0)
    [refused] = result.rejected
    assert refused.event is later and refused.code == "conflicting_duplicate"
    assert refused.reason == (
        f"conflicting duplicate: event_id {first.event_id} already stored with "
        "captured_at 2026-11-27T10:00:00+00:00; differs in captured_at"
    )
    assert [r["captured_at"] for r in await _rows(pool, first.event_id)] == [CAPTURED]
    assert len(await _rows(pool, other.event_id)) == 1


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
async def test_a_stored_id_with_other_content_is_refused_naming_the_columns(
    pool: asyncpg.Pool[Any], careful: bool
) -> None:
    first = _event()
    changed = _moved(first, plate_text="ZZZ-999", plate_normalized_text="ZZZ999", latency_ms=None)
    writer = Writer()
    async with pool.acquire() as conn:
        await writer.write(conn, [first])
        writer.careful = careful
        result = await writer.write(conn, [changed])
    assert result.stored == 0
    assert result.rejected[0].reason.endswith("differs in plate_text, latency_ms")
    [row] = await _rows(pool, first.event_id)
    assert row["plate_text"] == first.plate_text


async def test_the_same_read_again_is_a_duplicate_whatever_its_offset(
    pool: asyncpg.Pool[Any],
) -> None:
    first = _event()
    same = _moved(first, captured_at=CAPTURED.astimezone(timezone(timedelta(hours=-7))))
    async with pool.acquire() as conn:
        await Writer().write(conn, [first])
        result = await Writer().write(conn, [same, first])
    assert (result.stored, result.duplicates, result.rejected) == (0, 2, ())


async def test_inside_one_batch_the_first_read_wins(pool: asyncpg.Pool[Any]) -> None:
    first = _event()
    second = _moved(first, captured_at=CAPTURED + timedelta(minutes=5))
    repeat = _moved(first)
    async with pool.acquire() as conn:
        result = await Writer().write(conn, [first, second, repeat])
    assert (result.stored, result.duplicates) == (1, 1)
    assert [r.event for r in result.rejected] == [second]
    assert "differs in captured_at" in result.rejected[0].reason
    assert [r["captured_at"] for r in await _rows(pool, first.event_id)] == [CAPTURED]


async def test_concurrent_writers_with_one_id_store_one_read(pool: asyncpg.Pool[Any]) -> None:
    event_ids = [uuid.uuid4() for _ in range(50)]
    early = [_event(event_id=str(i)) for i in event_ids]
    late = [_moved(e, captured_at=CAPTURED + timedelta(days=1)) for e in early]

    async def write(events: list[PlateEvent]) -> tuple[int, int]:
        async with pool.acquire() as conn:
            result = await Writer().write(conn, events)
        return result.stored, len(result.rejected)

    outcomes = sorted(await asyncio.gather(write(early), write(late)))
    assert outcomes == [(0, 50), (50, 0)]
    counts = await pool.fetch(
        "SELECT event_id, count(*) AS n FROM plate_events WHERE event_id = ANY($1) "
        "GROUP BY event_id",
        event_ids,
    )
    assert {r["n"] for r in counts} == {1} and len(counts) == 50
    claimed = await pool.fetchval(
        "SELECT count(*) FROM event_ids i JOIN plate_events e USING (event_id, captured_at) "
        "WHERE i.event_id = ANY($1)",
        event_ids,
    )
    assert claimed == 50


async def test_event_by_id_answers_the_read_its_id_is_claimed_for(
    pool: asyncpg.Pool[Any],
) -> None:
    # A second row with the id, older, as stored before ids were claimed.
    first = _event(camera_id="ids-legacy")
    older = CAPTURED - timedelta(days=1)
    async with pool.acquire() as conn:
        await Writer().write(conn, [first])
        await conn.execute("SELECT alpr_ensure_partitions(ARRAY[$1::date])", older.date())
        await conn.execute(
            "INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text, "
            "plate_normalized_text, plate_confidence, plate_region) "
            "SELECT event_id, $2, camera_id, track_id, plate_text, plate_normalized_text, "
            "plate_confidence, plate_region FROM plate_events WHERE event_id = $1",
            first.event_id,
            older,
        )
    row = await fetch_event(pool, first.event_id)
    assert row is not None and row["captured_at"] == CAPTURED
    assert await fetch_event(pool, uuid.uuid4()) is None


async def test_every_stored_read_has_its_id_claimed(pool: asyncpg.Pool[Any]) -> None:
    unclaimed = await pool.fetchval(
        "SELECT count(*) FROM plate_events e WHERE NOT EXISTS "
        "(SELECT 1 FROM event_ids i WHERE i.event_id = e.event_id "
        "AND i.captured_at = e.captured_at) AND e.camera_id <> 'ids-legacy'"
    )
    orphans = await pool.fetchval(
        "SELECT count(*) FROM event_ids i WHERE NOT EXISTS "
        "(SELECT 1 FROM plate_events e WHERE e.event_id = i.event_id "
        "AND e.captured_at = i.captured_at)"
    )
    assert (unclaimed, orphans) == (0, 0)


async def test_the_migration_claims_each_stored_id_with_its_oldest_read(
    pg_admin_url: str, timescaledb_available: bool
) -> None:
    engine: sql.Engine = "timescaledb" if timescaledb_available else "postgres"
    url = await create_database(pg_admin_url)
    conn = await asyncpg.connect(url)
    try:
        for migration in sql.migrations(engine):
            if migration.name == "event_ids":
                break
            await conn.execute(migration.sql)
        await conn.execute("SELECT alpr_ensure_partitions(ARRAY['2026-11-25'::date, '2026-11-26'])")
        twice, once = uuid.uuid4(), uuid.uuid4()
        insert = (
            "INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text, "
            "plate_normalized_text, plate_confidence, plate_region) "
            "VALUES ($1, $2, 'c', 't', 'A', 'A', 0.5, 'X')"
        )
        newer, older = datetime(2026, 11, 26, 8, tzinfo=UTC), datetime(2026, 11, 25, 8, tzinfo=UTC)
        await conn.execute(insert, twice, newer)
        await conn.execute(insert, twice, older)
        await conn.execute(insert, once, newer)
        [migration] = [m for m in sql.migrations(engine) if m.name == "event_ids"]
        await conn.execute(migration.sql)
        claimed = dict(await conn.fetch("SELECT event_id, captured_at FROM event_ids"))
        assert claimed == {twice: older, once: newer}
        assert await conn.fetchval("SELECT count(*) FROM plate_events") == 3  # none deleted
    finally:
        await conn.close()
        await drop_database(pg_admin_url, url)
