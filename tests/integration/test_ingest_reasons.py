"""One bad input, one reason: Kafka, HTTP and file import refuse alike.

The same bad messages go through the Kafka source (dead-letter topic), POST
/ingest (the answer's rejected list) and `alpr import` (the rejects file);
each comes back with the same reason text and the same code from all three.
The module's database refuses one row the validation lets through, so the
database's reason (`row_rejected`) is compared too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY

from ingestor import metrics
from ingestor.sources.files import import_file
from ingestor.sources.kafka import KafkaSource
from tests.factories import DELETE, kafka_ingestor_settings, wire_event
from tests.integration.test_ingest_http import Server, _settings

pytestmark = pytest.mark.kafka
REFUSED_TRACK = "refused-by-the-database"
CAPTURED = "2026-11-27T10:00:00Z"  # one day, one partition: the database's reason is one text


def _line(**changes: Any) -> bytes:
    return orjson.dumps(wire_event(**{"captured_at": CAPTURED, **changes}))


BAD: list[bytes] = [
    b'{"event_id": "broken',
    b"{not json",
    b"\xff\xfe not utf-8",
    b"[1, 2]",
    b'"a string"',
    _line(plate__confidence=7),
    _line(plate__text=DELETE),
    _line(event_id=DELETE),
    _line(captured_at="yesterday-ish"),
    _line(captured_at="2026-11-27T10:00:00"),
    _line(camera_id="c" * 51),
    _line(plate__text="AB\u0000C"),
    _line(track_id=REFUSED_TRACK),  # valid, but the database refuses it
]


@pytest.fixture(scope="module")
async def refusing(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    check = f"CHECK (track_id <> '{REFUSED_TRACK}')"
    await pool.execute(f"ALTER TABLE plate_events ADD CONSTRAINT test_refused {check}")
    return pool


@pytest.fixture(scope="module")
def inputs() -> list[bytes]:
    """The bad messages between good ones; the same bytes for every source."""
    mixed: list[bytes] = []
    for bad in BAD:
        mixed += [_line(camera_id="reasons"), bad]
    return [*mixed, _line(camera_id="reasons")]


def _dead_lettered(source: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in REGISTRY.collect():
        if family.name == "alpr_ingest_dead_lettered":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels["source"] == source:
                    counts[sample.labels["code"]] += int(sample.value)
    return counts


def _expected_codes() -> Counter[str]:
    return Counter({"invalid_event": len(BAD) - 1, "row_rejected": 1})


async def test_kafka_http_and_files_give_the_same_reasons(
    refusing: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    inputs: list[bytes],
    tmp_path: Path,
) -> None:
    bad_at = [i for i, value in enumerate(inputs) if value in BAD]
    kafka = await _through_kafka(refusing, database_url, kafka_bootstrap, inputs)
    http = await _through_http(refusing, database_url, inputs)
    files = await _through_files(refusing, tmp_path, inputs)

    assert sorted(kafka) == sorted(http) == sorted(files) == bad_at
    for index in bad_at:
        assert _same(kafka[index]) == _same(http[index]) == _same(files[index]), inputs[index]
    reasons = [kafka[i][1] for i in bad_at]
    assert len(set(reasons)) == len(BAD)  # each bad input has a reason of its own
    assert "violates check constraint" in kafka[bad_at[-1]][1]
    assert kafka[bad_at[-1]][0] == "row_rejected"


async def _through_kafka(
    pool: asyncpg.Pool[Any], database_url: str, bootstrap: str, inputs: list[bytes]
) -> dict[int, tuple[str, str]]:
    """{index: (code, reason)} from the dead-letter topic's headers."""
    topic = f"test-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in inputs:  # one key, one partition: offsets are the indexes
            await producer.send_and_wait(topic, value=value, key=b"reasons")
    finally:
        await producer.stop()
    settings = kafka_ingestor_settings(database_url, bootstrap, topic)
    stats, stop = metrics.Stats(), asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
    try:
        for _ in range(600):
            if stats.dead_lettered >= len(BAD) or task.done():
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    letters: dict[int, tuple[str, str]] = {}
    async for record in _records(bootstrap, settings.dlq_topic, len(BAD)):
        headers = {k: v.decode() for k, v in record.headers}
        letters[int(headers["original_offset"])] = (headers["reason_code"], headers["reason"])
    return letters


async def _records(bootstrap: str, topic: str, n: int) -> AsyncIterator[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",  # dead letters are written in transactions
    )
    await consumer.start()
    try:
        seen = 0
        deadline = asyncio.get_running_loop().time() + 30
        while seen < n and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    seen += 1
                    yield record
    finally:
        await consumer.stop()


async def _through_http(
    pool: asyncpg.Pool[Any], database_url: str, inputs: list[bytes]
) -> dict[int, tuple[str, str]]:
    """{index: (code, reason)}: reasons from the answer, codes from the metrics."""
    before = _dead_lettered("http")
    server = Server(_settings(database_url), pool)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", content=b"\n".join(inputs) + b"\n")
    finally:
        await server.close()
    assert answer.status_code == 200, answer.text
    assert _dead_lettered("http") - before == _expected_codes()
    return _with_codes({item["index"]: item["reason"] for item in answer.json()["rejected"]})


async def _through_files(
    pool: asyncpg.Pool[Any], tmp_path: Path, inputs: list[bytes]
) -> dict[int, tuple[str, str]]:
    """{index: (code, reason)}: reasons from the rejects file, codes from the metrics."""
    before = _dead_lettered("file")
    path = tmp_path / "reasons.ndjson"
    path.write_bytes(b"\n".join(inputs) + b"\n")
    report = await import_file(pool, path, batch_size=7)
    assert report.rejects_path is not None
    assert _dead_lettered("file") - before == _expected_codes()
    lines = [orjson.loads(line) for line in report.rejects_path.read_bytes().splitlines()]
    return _with_codes({line["position"] - 1: line["reason"] for line in lines})


def _same(letter: tuple[str, str]) -> tuple[str, str]:
    """What must be equal: all of it, except the time a refused row was tried.

    The database's reason ends with the row it refused ("DETAIL: Failing row
    contains (...)"), whose last column, created_at, is the time of the try.
    """
    code, reason = letter
    if code == "row_rejected":
        reason = reason.rsplit(", ", 1)[0]
    return code, reason


def _with_codes(reasons: dict[int, str]) -> dict[int, tuple[str, str]]:
    # The answer and the rejects file carry no code; the metrics above
    # counted one row_rejected and the rest invalid_event, and the
    # database's reason is the one naming the constraint.
    return {
        index: ("row_rejected" if "check constraint" in reason else "invalid_event", reason)
        for index, reason in reasons.items()
    }
