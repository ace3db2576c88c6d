"""One event id, one read: a second read with a stored id is a duplicate when it
is the same read, and refused ("conflicting duplicate") when its content
differs; on the fast path and the careful one, inside one batch, between
concurrent writers; backfilled from the reads stored before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

import sql
from gateway.queries import fetch_event
from ingestor import metrics
from ingestor.sources.files import import_file, reject_reasons
from ingestor.sources.kafka import KafkaSource
from ingestor.writer import Writer
from schema.events import PlateEvent, event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import kafka_ingestor_settings, wire_event
from tests.integration.test_ingest_http import Server, _settings

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


@pytest.mark.kafka
async def test_kafka_http_and_files_refuse_a_conflicting_duplicate_alike(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    original = wire_event(camera_id="ids-sources", captured_at=CAPTURED.isoformat())
    async with pool.acquire() as conn:
        await Writer().write(conn, [event_from_dict(original)])
    moved = {**original, "captured_at": (CAPTURED + timedelta(hours=1)).isoformat()}
    expected = (
        f"conflicting duplicate: event_id {original['event_id']} already stored with "
        "captured_at 2026-11-27T10:00:00+00:00; differs in captured_at"
    )

    def body(n: int) -> list[bytes]:  # the conflict between good reads
        good = [wire_event(camera_id="ids-sources") for _ in range(n)]
        return [orjson.dumps(good[0]), orjson.dumps(moved), *map(orjson.dumps, good[1:])]

    # Kafka: dead-lettered with its code, and the partition goes on.
    topic = f"test-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for line in body(3):
            await producer.send_and_wait(topic, value=line, key=b"ids")
    finally:
        await producer.stop()
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    stats, stop = metrics.Stats(), asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
    try:
        for _ in range(600):
            if (stats.dead_lettered >= 1 and stats.stored >= 3) or task.done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    [letter] = await _dead_letters(kafka_bootstrap, settings.dlq_topic, 1)
    assert (letter["reason_code"], letter["reason"], letter["original_offset"]) == (
        "conflicting_duplicate",
        expected,
        "1",
    )
    # HTTP: listed with the same reason, the rest stored.
    server = Server(_settings(database_url), pool)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", content=b"\n".join(body(3)))
    finally:
        await server.close()
    assert answer.status_code == 200
    assert (answer.json()["stored"], answer.json()["rejected"]) == (
        3,
        [{"index": 1, "reason": expected}],
    )
    # Files: the same reason in the rejects file.
    path = tmp_path / "ids.ndjson"
    path.write_bytes(b"\n".join(body(3)) + b"\n")
    report = await import_file(pool, path)
    assert (report.stored, report.rejected) == (3, 1)
    assert report.rejects_path is not None
    assert reject_reasons(report.rejects_path) == [expected]
    [row] = await _rows(pool, uuid.UUID(original["event_id"]))
    assert row["captured_at"] == CAPTURED


async def _dead_letters(bootstrap: str, topic: str, n: int) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    letters: list[dict[str, str]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(letters) < n and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                letters += [{k: v.decode() for k, v in r.headers} for r in records]
    finally:
        await consumer.stop()
    return letters
