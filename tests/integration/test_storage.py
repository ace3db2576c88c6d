"""The storage layout on both engines: settings applied by migrate, the facts
operators see (`alpr status`, the ingestor's gauges), and late reads for a
compressed day (TimescaleDB). Each engine gets databases of its own; the
TimescaleDB cases skip when the extension is not loadable on the server."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

import sql
from alpr.status import storage_lines
from core.migrate import migrate
from core.settings import StorageSettings
from gateway.queries import fetch_event, fetch_events
from ingestor.storage import refresh_storage_gauges
from ingestor.writer import Writer
from schema.events import event_from_dict
from schema.filters import EventQuery
from schema.paging import PageRequest
from tests.conftest import create_database, drop_database
from tests.factories import wire_event

ENGINES = [
    pytest.param("postgres"),
    pytest.param("timescaledb", marks=pytest.mark.timescaledb),
]
NOW = datetime.now(UTC).replace(microsecond=0)
OLD = (NOW - timedelta(days=10)).replace(hour=12, minute=0, second=0)


async def _engine_database(
    pg_admin_url: str, available: bool, engine: sql.Engine, storage: StorageSettings | None = None
) -> tuple[str, str | None]:
    if engine == "timescaledb" and not available:
        pytest.skip("timescaledb extension not loadable on the test server")
    url = await create_database(pg_admin_url)
    report = await migrate(url, engine, storage)
    assert report.engine == engine
    return url, report.storage


@pytest.fixture(scope="module", params=ENGINES)
async def engine_pool(
    request: pytest.FixtureRequest, pg_admin_url: str, timescaledb_available: bool
) -> AsyncIterator[tuple[sql.Engine, asyncpg.Pool[Any]]]:
    """A database of its own per engine, with 40 reads of today and 30 of a day
    ten days back; on TimescaleDB that day's chunk is compressed."""
    engine: sql.Engine = request.param
    url, _ = await _engine_database(pg_admin_url, timescaledb_available, engine)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    async with pool.acquire() as conn:
        await Writer().write(conn, _reads(NOW, 40, "today") + _reads(OLD, 30, "old"))
        if engine == "timescaledb":
            await conn.execute(
                "SELECT compress_chunk(c) "
                "FROM show_chunks('plate_events', older_than => now() - interval '7 days') c"
            )
    yield engine, pool
    await pool.close()
    await drop_database(pg_admin_url, url)


def _reads(start: datetime, n: int, camera: str, plate: str = "ST") -> list[Any]:
    return [
        event_from_dict(
            wire_event(
                camera_id=f"storage-{camera}",
                captured_at=(start - timedelta(minutes=i)).isoformat(),
                plate__text=f"{plate}{i}",
            )
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("engine", ENGINES)
async def test_migrate_applies_the_storage_settings(
    engine: sql.Engine, pg_admin_url: str, timescaledb_available: bool
) -> None:
    storage = StorageSettings(chunk_interval=timedelta(hours=6), compress_after=timedelta(days=3))
    url, described = await _engine_database(pg_admin_url, timescaledb_available, engine, storage)
    try:
        if engine == "postgres":
            assert described is not None and "daily partitions" in described
            assert "not compressed" in described
            return
        assert described == "chunks of 06:00:00, compressed after 3 days"
        conn = await asyncpg.connect(url)
        try:
            interval = await conn.fetchval(
                "SELECT time_interval FROM timescaledb_information.dimensions "
                "WHERE hypertable_name = 'plate_events'"
            )
            assert interval == timedelta(hours=6)
            policy = (
                "SELECT config ->> 'compress_after' FROM timescaledb_information.jobs "
                "WHERE proc_name = 'policy_compression' AND hypertable_name = 'plate_events'"
            )
            assert await conn.fetchval(policy) == "3 days"
        finally:
            await conn.close()
        # Off removes the policy; the defaults bring it back; a second run changes nothing.
        await migrate(url, "auto", StorageSettings(compress_after=None))
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval(policy) is None
            again = await migrate(url, "auto", StorageSettings())
            assert again.storage == "chunks of 1 day, compressed after 7 days"
            assert await conn.fetchval(policy) == "7 days"
            jobs = await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.jobs "
                "WHERE proc_name = 'policy_compression' AND hypertable_name = 'plate_events'"
            )
            assert jobs == 1
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_url, url)


async def test_storage_facts_count_partitions_and_bytes_per_read(
    engine_pool: tuple[sql.Engine, asyncpg.Pool[Any]],
) -> None:
    engine, pool = engine_pool
    async with pool.acquire() as conn:
        facts = dict(await conn.fetchrow(*sql.load_queries("storage")["facts"].bind()))
        partitions = await refresh_storage_gauges(conn)
    assert partitions == facts["partitions"] >= 2
    assert facts["uncompressed_reads"] >= 40
    assert facts["uncompressed_bytes"] > 0
    gauge = REGISTRY.get_sample_value
    per_read = gauge("alpr_storage_bytes_per_read", {"state": "uncompressed"})
    assert per_read == pytest.approx(facts["uncompressed_bytes"] / facts["uncompressed_reads"])
    lines = storage_lines(facts, NOW + timedelta(minutes=1))
    if engine == "postgres":
        assert not facts["compression_available"] and facts["compressed_partitions"] == 0
        assert facts["uncompressed_reads"] == 70  # every partition, today's and the old day's
        assert "compression is not available on plain PostgreSQL" in lines[0]
        assert gauge("alpr_storage_compression_available") == 0
        assert math.isnan(gauge("alpr_storage_bytes_per_read", {"state": "compressed"}) or 0.0)
        return
    assert facts["compression_available"] and facts["compressed_partitions"] == 1
    assert facts["compressed_reads"] == 30 and facts["uncompressed_reads"] == 40
    assert facts["overdue_partitions"] == 0
    # Compressed by the fixture a moment ago: the chunks say so.
    assert abs((facts["last_compressed_at"] - datetime.now(UTC)).total_seconds()) < 600
    assert gauge("alpr_storage_partitions", {"state": "compressed"}) == 1
    assert gauge("alpr_storage_last_compressed_timestamp_seconds") == pytest.approx(
        facts["last_compressed_at"].timestamp()
    )
    assert gauge("alpr_storage_compression_available") == 1
    assert f"{facts['partitions']} chunks, 1 compressed" in lines[0]
    assert "last chunk compressed" in lines[1] and "compressed, " in lines[2]


@pytest.mark.timescaledb
async def test_a_late_read_for_a_compressed_day_is_stored_once(
    engine_pool: tuple[sql.Engine, asyncpg.Pool[Any]],
) -> None:
    engine, pool = engine_pool
    if engine != "timescaledb":
        pytest.skip("nothing is compressed on plain PostgreSQL")
    [late] = _reads(OLD + timedelta(minutes=7, seconds=30), 1, "late", plate="LATE")
    writer = Writer()
    async with pool.acquire() as conn:
        first = await writer.write(conn, [late])
        again = await writer.write(conn, [late])
        moved = late.model_copy(update={"plate_confidence": 0.5})
        conflicting = await writer.write(conn, [moved])
        chunk_compressed = await conn.fetchval(
            "SELECT is_compressed FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'plate_events' AND range_start <= $1 AND range_end > $1",
            late.captured_at,
        )
        partial = await conn.fetchval("SELECT partial_partitions FROM alpr_storage_facts()")
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert conflicting.stored == 0 and len(conflicting.rejected) == 1
    assert chunk_compressed and partial == 1
    found = await fetch_event(pool, late.event_id)
    assert found is not None and found["captured_at"] == late.captured_at
    page, _ = await fetch_events(pool, EventQuery(plate="LATE0"), PageRequest(limit=5))
    assert [row["event_id"] for row in page] == [late.event_id]
    # The compressed day's own reads still read as before, newest first.
    day, _ = await fetch_events(pool, EventQuery(camera_id="storage-old"), PageRequest(limit=50))
    assert len(day) == 30 and day == sorted(day, key=lambda r: r["captured_at"], reverse=True)


@pytest.mark.timescaledb
async def test_the_columnstore_keeps_the_chosen_layout(
    engine_pool: tuple[sql.Engine, asyncpg.Pool[Any]],
) -> None:
    engine, pool = engine_pool
    if engine != "timescaledb":
        pytest.skip("plain PostgreSQL has no columnstore")
    row = await pool.fetchrow(
        "SELECT segmentby, orderby, index FROM timescaledb_information.chunk_columnstore_settings "
        "WHERE hypertable = 'plate_events'::regclass"
    )
    assert (row["segmentby"], row["orderby"]) == ("camera_id", "captured_at DESC,event_id")
    blooms = sorted(
        str(index["column"]) for index in json.loads(row["index"]) if index["type"] == "bloom"
    )
    assert blooms == ["['event_id', 'captured_at']", "plate_normalized_text", "site_id"]
