"""The rollup checks themselves: silent on what the writer kept, loud on any change.

Reads over three hours and two days, on cameras with and without a site, go
through a real `python -m ingestor`; then `recomputed_mismatches` must find
nothing, and must name the table when one row of it is altered (in a
transaction that is rolled back).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from ingestor.publish import encode
from tests.factories import DELETE, wire_event
from tests.integration.rollup_checks import CHECKED_TABLES, recomputed_mismatches

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


def _reads(base: datetime, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        camera = i % 5
        out.append(
            wire_event(
                captured_at=(base - timedelta(minutes=17 * i)).isoformat(),
                camera_id=f"rc-cam-{camera}",
                plate__text=f"RC{i % 13:03d}",
                plate__region=("US-FL", "US-GA")[i % 2],
                plate__confidence=0.5 + (i % 7) / 20,
                latency_ms=DELETE if i % 6 == 0 else 10 + i,
                node__site=DELETE if camera == 4 else f"RC-S{camera % 2}",
            )
        )
    return out


async def _produce(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            value, key = encode(event)
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def _ingest(database_url: str, bootstrap: str, topic: str, expect: int) -> None:
    """Run one ingestor process until `expect` reads are stored, then SIGTERM it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    env.update(
        ALPR_DATABASE_URL=database_url,
        ALPR_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        ALPR_KAFKA_TOPIC=topic,
        ALPR_KAFKA_GROUP_ID=f"group-{uuid.uuid4().hex}",
        ALPR_KAFKA_AUTO_OFFSET_RESET="earliest",
        ALPR_DLQ_TOPIC=f"{topic}.dlq",
        ALPR_HTTP_ENABLED="false",
        ALPR_INGESTOR_METRICS_PORT="0",
        ALPR_LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingestor", env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        conn = await asyncpg.connect(database_url)
        try:
            for _ in range(1200):
                if await conn.fetchval("SELECT count(*) FROM plate_events") >= expect:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


@pytest.fixture(scope="module")
async def stored(database_url: str, kafka_bootstrap: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    topic = f"test-{uuid.uuid4().hex}"
    events = _reads(datetime.now(UTC), 120)
    await _produce(kafka_bootstrap, topic, events)
    await _ingest(database_url, kafka_bootstrap, topic, len(events))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    assert await pool.fetchval("SELECT count(*) FROM plate_events") == len(events)
    yield pool
    await pool.close()


async def test_nothing_differs_after_the_writer(stored: asyncpg.Pool[Any]) -> None:
    found = await recomputed_mismatches(stored)
    assert set(found) == set(CHECKED_TABLES)
    assert {table: keys for table, keys in found.items() if keys} == {}


def _one_row(table: str, change: str) -> str:
    return f"UPDATE {table} SET {change} WHERE ctid = (SELECT min(ctid) FROM {table})"


def _drop_one(table: str) -> str:
    return f"DELETE FROM {table} WHERE ctid = (SELECT min(ctid) FROM {table})"


TAMPERED = [
    ("plates", _one_row("plates", "read_count = read_count + 1")),
    ("plates", _one_row("plates", "last_region = 'ZZ'")),
    ("plates", _one_row("plates", "first_seen = first_seen - interval '1 ms'")),
    ("plate_numbers", _drop_one("plate_numbers")),
    ("plate_cameras", _one_row("plate_cameras", "last_seen = last_seen + interval '1 s'")),
    ("plate_cameras", _one_row("plate_cameras", "site_id = 'elsewhere'")),
    ("cameras", _one_row("cameras", "confidence_sum = confidence_sum + 0.001")),
    ("cameras", _one_row("cameras", "latency_count = latency_count + 1")),
    ("camera_hourly", _one_row("camera_hourly", "reads = reads + 1")),
    ("camera_hourly", _one_row("camera_hourly", "site_id = 'elsewhere'")),
    ("camera_daily", _one_row("camera_daily", "latency_sum = latency_sum - 1")),
    ("reads_hourly", _one_row("reads_hourly", "reads = reads + 1")),
    ("plates_hourly", _one_row("plates_hourly", "new_plates = new_plates + 1")),
    ("plate_days", _drop_one("plate_days")),
    ("plate_day_bits", _drop_one("plate_day_bits")),
    ("plate_sites", _drop_one("plate_sites")),
    ("site_plate_counts", _one_row("site_plate_counts", "plates = plates + 1")),
    ("camera_plate_counts", _one_row("camera_plate_counts", "plates = plates - 1")),
]


@pytest.mark.parametrize(("table", "change"), TAMPERED)
async def test_a_changed_row_is_named(stored: asyncpg.Pool[Any], table: str, change: str) -> None:
    async with stored.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            assert await conn.execute(change) in ("UPDATE 1", "DELETE 1")
            found = await recomputed_mismatches(conn)
        finally:
            await transaction.rollback()
    assert found[table], found


async def test_plates_hourly_follows_a_late_earlier_read(
    stored: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    # A plate first stored now, then a read of it captured two hours earlier
    # (an edge box that was offline, a partition that lagged behind).
    topic = f"test-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    first = wire_event(camera_id="rc-late", plate__text="LATE001", captured_at=now.isoformat())
    late = wire_event(
        camera_id="rc-late",
        plate__text="LATE001",
        captured_at=(now - timedelta(hours=2)).isoformat(),
    )
    before = await stored.fetchval("SELECT count(*) FROM plate_events")
    await _produce(kafka_bootstrap, topic, [first])
    await _ingest(database_url, kafka_bootstrap, topic, before + 1)
    await _produce(kafka_bootstrap, topic, [late])
    await _ingest(database_url, kafka_bootstrap, topic, before + 2)
    found = await recomputed_mismatches(stored)
    assert {table: keys for table, keys in found.items() if keys} == {}
