"""The schema on a real PostgreSQL: contract names, both engines, runner safety."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import sql
from core.migrate import migrate
from schema.errors import MigrationChanged, MigrationError
from tests.conftest import create_database, drop_database

DOCUMENT_INDEXES = {
    "idx_plate_normalized",
    "idx_camera_time",
    "idx_site_time",
    "idx_track_id",
    "idx_captured_at",
}
DOCUMENT_COLUMNS = [
    ("event_id", "uuid"),
    ("captured_at", "timestamp with time zone"),
    ("camera_id", "character varying"),
    ("track_id", "character varying"),
    ("plate_text", "character varying"),
    ("plate_normalized_text", "character varying"),
    ("plate_confidence", "double precision"),
    ("plate_region", "character varying"),
    ("vehicle_type", "character varying"),
    ("vehicle_make", "character varying"),
    ("vehicle_model", "character varying"),
    ("vehicle_color", "character varying"),
    ("plate_image_url", "text"),
    ("vehicle_image_url", "text"),
    ("frame_image_url", "text"),
    ("latency_ms", "integer"),
    ("quality_score", "double precision"),
    ("frame_number", "integer"),
    ("site_id", "character varying"),
    ("host_id", "character varying"),
    ("roi", "character varying"),
    ("direction", "character varying"),
    ("created_at", "timestamp with time zone"),
]


@pytest.fixture
async def empty_db(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_database(pg_admin_url)
    yield url
    await drop_database(pg_admin_url, url)


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_plain_postgres_schema_matches_the_contract(empty_db: str) -> None:
    report = await migrate(empty_db, "postgres")
    assert report.engine == "postgres"
    assert len(report.applied) == len(sql.migrations("postgres"))
    columns = await _fetch(
        empty_db,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'plate_events' ORDER BY ordinal_position",
    )
    assert [(r["column_name"], r["data_type"]) for r in columns] == DOCUMENT_COLUMNS
    key = await _fetch(
        empty_db,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'plate_events'::regclass "
        "AND i.indisprimary",
    )
    assert {r["attname"] for r in key} == {"event_id", "captured_at"}
    indexes = await _fetch(
        empty_db, "SELECT indexname FROM pg_indexes WHERE tablename = 'plate_events'"
    )
    assert DOCUMENT_INDEXES <= {r["indexname"] for r in indexes}
    views = await _fetch(empty_db, "SELECT table_name FROM information_schema.views")
    assert {"plate_events_stats", "plate_events_recent"} <= {r["table_name"] for r in views}


async def test_plain_postgres_partitions_by_day(empty_db: str) -> None:
    await migrate(empty_db, "postgres")
    parts = await _fetch(
        empty_db,
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'plate_events'::regclass",
    )
    assert len(parts) == 22  # a week back, today, two weeks ahead
    conn = await asyncpg.connect(empty_db)
    try:
        created = await conn.fetchval(
            "SELECT alpr_ensure_partitions(ARRAY['2001-02-03'::date, '2001-02-03'::date])"
        )
        assert created == 1
        assert await conn.fetchval("SELECT alpr_ensure_partitions(ARRAY['2001-02-03'::date])") == 0
        await conn.execute(
            "INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text, "
            "plate_normalized_text, plate_confidence, plate_region) VALUES "
            "(gen_random_uuid(), '2001-02-03 23:59:59+00', 'c', 't', 'A', 'A', 0.5, 'X')"
        )
        where = await conn.fetchval("SELECT tableoid::regclass::text FROM plate_events")
        assert where == "plate_events_p20010203"
        assert await conn.fetchval("SELECT engine FROM alpr_engine") == "postgres"
    finally:
        await conn.close()


async def test_running_twice_applies_nothing_new(empty_db: str) -> None:
    first = await migrate(empty_db, "postgres")
    second = await migrate(empty_db)
    assert first.applied and second.applied == []
    assert second.already == len(first.applied)
    assert second.engine == "postgres"


async def test_concurrent_runs_apply_each_migration_once(empty_db: str) -> None:
    reports = await asyncio.gather(*(migrate(empty_db, "postgres") for _ in range(4)))
    applied = [label for report in reports for label in report.applied]
    assert sorted(applied) == sorted(set(applied))
    assert len(applied) == len(sql.migrations("postgres"))
    rows = await _fetch(empty_db, "SELECT count(*) AS n FROM schema_migrations")
    assert rows[0]["n"] == len(applied)


async def test_a_changed_migration_is_refused(empty_db: str) -> None:
    await migrate(empty_db, "postgres")
    conn = await asyncpg.connect(empty_db)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
    finally:
        await conn.close()
    with pytest.raises(MigrationChanged, match="0002_plate_events_indexes changed"):
        await migrate(empty_db)


async def test_an_unknown_applied_migration_is_refused(empty_db: str) -> None:
    await migrate(empty_db, "postgres")
    conn = await asyncpg.connect(empty_db)
    try:
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, engine, checksum) "
            "VALUES (9999, 'from_the_future', 'postgres', 'x')"
        )
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match=r"\[9999\]"):
        await migrate(empty_db)


async def test_engine_cannot_switch_after_setup(empty_db: str) -> None:
    await migrate(empty_db, "postgres")
    with pytest.raises(MigrationError, match="cannot switch"):
        await migrate(empty_db, "timescaledb")


async def test_asking_for_missing_timescaledb_fails_clearly(
    empty_db: str, timescaledb_available: bool
) -> None:
    if timescaledb_available:
        pytest.skip("timescaledb is loadable on this server; nothing to refuse")
    with pytest.raises(MigrationError, match="not loadable"):
        await migrate(empty_db, "timescaledb")


@pytest.mark.timescaledb
async def test_timescaledb_schema(empty_db: str, timescaledb_available: bool) -> None:
    if not timescaledb_available:
        pytest.skip(
            "timescaledb extension not loadable on the test server "
            "(set ALPR_TEST_DATABASE_URL to a server with it preloaded)"
        )
    report = await migrate(empty_db)
    assert report.engine == "timescaledb"
    dims = await _fetch(
        empty_db,
        "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'plate_events'",
    )
    assert [(r["column_name"], str(r["time_interval"])) for r in dims] == [
        ("captured_at", "1 day, 0:00:00")
    ]
    jobs = await _fetch(
        empty_db,
        "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'plate_events'",
    )
    assert "policy_compression" in {r["proc_name"] for r in jobs}
    indexes = await _fetch(
        empty_db, "SELECT indexname FROM pg_indexes WHERE tablename = 'plate_events'"
    )
    assert DOCUMENT_INDEXES <= {r["indexname"] for r in indexes}
    columns = await _fetch(
        empty_db,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'plate_events' ORDER BY ordinal_position",
    )
    assert [(r["column_name"], r["data_type"]) for r in columns] == DOCUMENT_COLUMNS
