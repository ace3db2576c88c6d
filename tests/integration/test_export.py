"""`alpr export` on a real database: the events filters, CSV and NDJSON, the
round trip through `alpr import`, and the audit record."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.export import export_events
from ingestor.sources.files import import_file
from ingestor.writer import write_batch
from schema.events import COLUMNS, event_from_dict
from schema.filters import EventQuery
from tests.conftest import create_database, drop_database
from tests.factories import wire_event

BASE = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)


@pytest.fixture(scope="module", autouse=True)
async def reads(pool: asyncpg.Pool[Any]) -> None:
    events = [
        event_from_dict(
            wire_event(
                captured_at=(BASE + timedelta(minutes=i)).isoformat(),
                plate__text="EXP-001" if i % 4 == 0 else f"EXQ{i:03d}",
                camera_id=f"exp-cam-{i % 2}",
                node={"site": "EX1" if i < 30 else "EX2"},
                extras={"direction": "inbound" if i % 3 else "outbound"},
            )
        )
        for i in range(40)
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)


async def _export(pool: asyncpg.Pool[Any], query: EventQuery, fmt: Any = "csv") -> str:
    out = io.StringIO()
    async with pool.acquire() as conn:
        await export_events(conn, query, out, fmt, purpose="test")
    return out.getvalue()


async def test_filters_narrow_the_export(pool: asyncpg.Pool[Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(await _export(pool, EventQuery()))))
    assert len(rows) >= 40
    assert list(rows[0]) == list(COLUMNS)
    by_plate = list(csv.DictReader(io.StringIO(await _export(pool, EventQuery(plate="exp-001")))))
    assert len(by_plate) == 10 and {r["plate_normalized_text"] for r in by_plate} == {"EXP001"}
    camera_site = EventQuery(camera_id="exp-cam-1", site_id="EX2")
    assert len(list(csv.DictReader(io.StringIO(await _export(pool, camera_site))))) == 5
    window = EventQuery(since=BASE + timedelta(minutes=10), until=BASE + timedelta(minutes=20))
    timed = list(csv.DictReader(io.StringIO(await _export(pool, window))))
    assert len(timed) == 10
    assert [r["captured_at"] for r in timed] == sorted(r["captured_at"] for r in timed)
    lines = await _export(pool, EventQuery(direction="outbound", site_id="EX1"), "ndjson")
    parsed = [orjson.loads(line) for line in lines.splitlines()]
    assert len(parsed) == 10 and {p["direction"] for p in parsed} == {"outbound"}
    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE operation = 'export' ORDER BY audit_id DESC LIMIT 1"
    )
    assert audit is not None and audit["result_count"] == 10 and audit["purpose"] == "test"
    assert "outbound" in audit["variables"]


async def test_the_export_filters_as_the_events_pages_do(pool: asyncpg.Pool[Any]) -> None:
    # The gateway's filter: direction and vehicle compared without case, so
    # the command line's free text finds what the GraphQL enums would.
    query = EventQuery(
        site_id="EX1", direction="OUTBOUND", vehicle_make="toyota", vehicle_type="Car"
    )
    rows = list(csv.DictReader(io.StringIO(await _export(pool, query))))
    assert len(rows) == 10 and {r["direction"] for r in rows} == {"outbound"}
    assert {r["vehicle_make"] for r in rows} == {"Toyota"}
    confident = EventQuery(site_id="EX1", min_confidence=1.0)
    assert list(csv.DictReader(io.StringIO(await _export(pool, confident)))) == []


async def test_export_then_import_round_trip(
    pool: asyncpg.Pool[Any], pg_admin_url: str, migrated_template: str, tmp_path: Path
) -> None:
    path = tmp_path / "site.csv"
    path.write_text(await _export(pool, EventQuery(site_id="EX1")))
    target_url = await create_database(pg_admin_url, template=migrated_template)
    try:
        target = await asyncpg.create_pool(target_url, min_size=1, max_size=2)
        assert target is not None
        try:
            report = await import_file(target, path)
            assert (report.stored, report.rejected) == (30, 0)
            source = await pool.fetch(
                "SELECT event_id, plate_text, captured_at, plate_confidence FROM plate_events "
                "WHERE site_id = 'EX1' ORDER BY event_id"
            )
            copied = await target.fetch(
                "SELECT event_id, plate_text, captured_at, plate_confidence FROM plate_events "
                "ORDER BY event_id"
            )
            assert [tuple(r) for r in copied] == [tuple(r) for r in source]
        finally:
            await target.close()
    finally:
        await drop_database(pg_admin_url, target_url)


def test_export_command_writes_gzip(database_url: str, tmp_path: Path) -> None:
    import gzip

    out = tmp_path / "out.ndjson.gz"
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alpr",
            "export",
            "--format",
            "ndjson",
            "-o",
            str(out),
            "--plate",
            "EXP001",
            "--purpose",
            "cli test",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "exported 10 reads" in done.stderr
    with gzip.open(out, "rt") as f:
        assert len(f.read().splitlines()) == 10
