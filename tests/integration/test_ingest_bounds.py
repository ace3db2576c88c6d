"""Times at the calendar's edges, and centuries ahead, are refused with a reason
by every source: Kafka dead-letters them and moves on, POST /ingest lists
them and stores the rest of the body, `alpr import` writes them to its
rejects and stores the rest of the file."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.sources.files import import_file, reject_reasons
from ingestor.sources.kafka import KafkaSource
from tests.factories import kafka_ingestor_settings, wire_event
from tests.integration.test_ingest_http import Server, _settings

# The time sent, and what its reason must say.
EDGES: list[tuple[str, str]] = [
    ("9999-12-31T23:59:59Z", "captured_at: 9999-12-31T23:59:59+00:00 is more than 86400 s ahead"),
    ("9999-12-31T23:59:59-05:00", "captured_at: 9999-12-31T23:59:59-05:00 is more than 86400 s"),
    ("0001-01-01T00:00:00Z", "captured_at: 0001-01-01T00:00:00+00:00 is more than 3650 days old"),
    ("0001-01-01T00:00:00+05:00", "captured_at: 0001-01-01T00:00:00+05:00 is more than 3650 days"),
    ("2300-01-01T00:00:00Z", "captured_at: 2300-01-01T00:00:00+00:00 is more than 86400 s ahead"),
    ("1970-01-01T00:00:00Z", "(ALPR_MAX_READ_AGE_DAYS)"),
]


def _lines(camera: str) -> tuple[list[bytes], dict[int, str]]:
    """Good reads with each edge between them; the expected reason by position."""
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for captured_at, reason in EDGES:
        lines.append(orjson.dumps(wire_event(camera_id=camera)))
        expected[len(lines)] = reason
        lines.append(orjson.dumps(wire_event(camera_id=camera, captured_at=captured_at)))
    lines.append(orjson.dumps(wire_event(camera_id=camera)))
    return lines, expected


async def _stored(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM plate_events WHERE camera_id = $1", camera)
    )


def _check(found: dict[int, str], expected: dict[int, str]) -> None:
    assert sorted(found) == sorted(expected)
    for position, reason in expected.items():
        assert reason in found[position], (position, found[position])


async def test_http_stores_the_good_reads_of_the_body(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    lines, expected = _lines("bounds-http")
    server = Server(_settings(database_url), pool)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", content=b"\n".join(lines))
    finally:
        await server.close()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["stored"], body["duplicates"]) == (len(EDGES) + 1, 0)
    _check({item["index"]: item["reason"] for item in body["rejected"]}, expected)
    assert await _stored(pool, "bounds-http") == len(EDGES) + 1


async def test_import_stores_the_good_rows_of_the_file(
    pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    lines, expected = _lines("bounds-file")
    path = tmp_path / "edges.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    window = IngestorSettings().capture_window()
    report = await import_file(pool, path, batch_size=4, window=window)
    assert (report.stored, report.rejected) == (len(EDGES) + 1, len(EDGES))
    assert report.rejects_path is not None
    positions = [
        orjson.loads(line)["position"] - 1 for line in report.rejects_path.read_bytes().splitlines()
    ]
    _check(dict(zip(positions, reject_reasons(report.rejects_path), strict=True)), expected)
    assert await _stored(pool, "bounds-file") == len(EDGES) + 1


@pytest.mark.kafka
async def test_kafka_dead_letters_them_and_goes_on(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    lines, expected = _lines("bounds-kafka")
    topic = f"test-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for line in lines:  # one key, one partition: offsets are positions
            await producer.send_and_wait(topic, value=line, key=b"bounds")
    finally:
        await producer.stop()
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    stats, stop = metrics.Stats(), asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
    try:
        for _ in range(600):
            if await _stored(pool, "bounds-kafka") == len(EDGES) + 1 or task.done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert await _stored(pool, "bounds-kafka") == len(EDGES) + 1
    letters = await _dead_letters(kafka_bootstrap, settings.dlq_topic, len(EDGES))
    assert {code for code, _ in letters.values()} == {"invalid_event"}
    _check({offset: reason for offset, (_, reason) in letters.items()}, expected)


async def _dead_letters(bootstrap: str, topic: str, n: int) -> dict[int, tuple[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    letters: dict[int, tuple[str, str]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(letters) < n and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    offset = int(headers["original_offset"])
                    letters[offset] = (headers["reason_code"], headers["reason"])
    finally:
        await consumer.stop()
    return letters
