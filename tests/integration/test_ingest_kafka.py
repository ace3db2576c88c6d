"""The Kafka source against a real broker and a real PostgreSQL.

Each test uses fresh topics and its own consumer group; counts are checked in
plate_events and in the rollups, so a double write anywhere would show.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.publish import encode
from ingestor.sources.kafka import KafkaSource
from tests.factories import DELETE, kafka_ingestor_settings, wire_event

pytestmark = pytest.mark.kafka


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        acks = [await producer.send(topic, value=v, key=k) for v, k in messages]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def _good(camera: str, n: int) -> list[tuple[bytes | None, bytes]]:
    out = []
    for i in range(n):
        # 32 cameras, so 32 keys over the topic's 3 partitions: with 4, a
        # member holding one partition got no key at all one run in five.
        value, key = encode(wire_event(camera_id=f"{camera}-{i % 32}", plate__text=f"K{i % 997}"))
        assert key is not None
        out.append((value, key))
    return out


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


class Running:
    """A KafkaSource running in this process until `stop()`."""

    def __init__(self, settings: IngestorSettings, pool: asyncpg.Pool[Any]) -> None:
        self.stats = metrics.Stats()
        self.source = KafkaSource(settings, pool, self.stats, max_backoff_s=1.0)
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(self.source.run(self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
def topic() -> str:
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
async def running() -> AsyncIterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        if not r.task.done():
            await r.stop()


async def _count(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM plate_events WHERE camera_id LIKE $1", f"{camera}-%"
        )
    )


async def _rollup_reads(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT COALESCE(sum(reads), 0) FROM camera_hourly WHERE camera_id LIKE $1",
            f"{camera}-%",
        )
    )


async def test_ten_thousand_exactly_once_and_replay(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    camera = f"x{uuid.uuid4().hex[:8]}"
    await _produce(kafka_bootstrap, topic, _good(camera, 10_000))
    first = Running(kafka_ingestor_settings(database_url, kafka_bootstrap, topic), pool)
    running.append(first)
    await _wait_for(lambda: _stored(first, 10_000))
    await first.stop()
    assert await _count(pool, camera) == 10_000
    assert first.stats.duplicates == 0 and first.stats.dead_lettered == 0

    # A new group replays the topic from the beginning: nothing changes.
    replay = Running(kafka_ingestor_settings(database_url, kafka_bootstrap, topic), pool)
    running.append(replay)
    await _wait_for(lambda: _seen(replay, 10_000))
    await replay.stop()
    assert (replay.stats.stored, replay.stats.duplicates) == (0, 10_000)
    assert await _count(pool, camera) == 10_000
    assert await _rollup_reads(pool, camera) == 10_000


async def _stored(r: Running, n: int) -> bool:
    if r.task.done():
        r.task.result()
    return r.stats.stored >= n


async def _seen(r: Running, n: int) -> bool:
    if r.task.done():
        r.task.result()
    return r.stats.stored + r.stats.duplicates >= n


async def test_committed_offsets_survive_a_restart(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    camera = f"r{uuid.uuid4().hex[:8]}"
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    await _produce(kafka_bootstrap, topic, _good(camera, 300))
    first = Running(settings, pool)
    running.append(first)
    await _wait_for(lambda: _stored(first, 300))
    await first.stop()
    await _produce(kafka_bootstrap, topic, _good(camera, 200))
    second = Running(settings, pool)  # same group: carries on from the commit
    running.append(second)
    await _wait_for(lambda: _stored(second, 200))
    await asyncio.sleep(0.5)
    await second.stop()
    assert (second.stats.stored, second.stats.duplicates) == (200, 0)
    assert await _count(pool, camera) == 500


BAD_MESSAGES: list[tuple[bytes, str]] = [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b"{not json", "not JSON"),
    (orjson.dumps(wire_event(plate__text=DELETE)), "plate.text: required field is missing"),
    (orjson.dumps(wire_event(plate__confidence=7)), "plate.confidence"),
    (orjson.dumps(wire_event(captured_at="yesterday-ish")), "captured_at"),
    (orjson.dumps(wire_event(captured_at="2026-11-27T10:00:00")), "no UTC offset"),
    (orjson.dumps(wire_event(camera_id="c" * 51)), "camera_id"),
    (orjson.dumps(wire_event(event_id=DELETE)), "event_id: required field is missing"),
    (b"[1, 2]", "expected a JSON object"),
]


async def test_good_and_bad_mix_goes_to_the_dead_letter_topic(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    camera = f"d{uuid.uuid4().hex[:8]}"
    good = _good(camera, 40)
    # All on one key, so one partition: the order and the offsets are known.
    mix: list[tuple[bytes | None, bytes]] = []
    for i, (value, _) in enumerate(BAD_MESSAGES):
        mix += [(good[2 * i][0], b"k"), (value, b"k"), (good[2 * i + 1][0], b"k")]
    mix += [(v, b"k") for v, _ in good[2 * len(BAD_MESSAGES) :]]
    await _produce(kafka_bootstrap, topic, mix)

    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    source = Running(settings, pool)
    running.append(source)
    await _wait_for(lambda: _seen(source, 40))
    letters = await _read(kafka_bootstrap, settings.dlq_topic, len(BAD_MESSAGES))
    await source.stop()

    assert await _count(pool, camera) == 40
    assert source.stats.dead_lettered == len(BAD_MESSAGES)
    by_value = {m.value: m for m in letters}
    for value, reason in BAD_MESSAGES:
        letter = by_value[value]
        headers = {k: v.decode() for k, v in letter.headers}
        assert reason in headers["reason"], (reason, headers["reason"])
        assert headers["reason_code"] == "invalid_event"
        assert headers["original_topic"] == topic
        offset = next(i for i, (v, _) in enumerate(mix) if v == value)
        assert headers["original_offset"] == str(offset)
        assert headers["original_partition"].isdigit()
        assert int(headers["original_timestamp"]) > 0
        assert letter.key == b"k"


async def _read(bootstrap: str, topic: str, n: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        isolation_level="read_committed",  # dead letters are written in transactions
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(out) < n and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                out += records
    finally:
        await consumer.stop()
    return out


async def test_two_ingestors_share_the_work_exactly_once(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    camera = f"s{uuid.uuid4().hex[:8]}"
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic, batch_size=200)
    events = _good(camera, 6000)
    await _produce(kafka_bootstrap, topic, events[:2000])
    first = Running(settings, pool)
    running.append(first)
    await _wait_for(lambda: _stored(first, 500))
    # A second member joins mid-stream: partitions are revoked and reassigned.
    second = Running(settings, pool)
    running.append(second)
    await _produce(kafka_bootstrap, topic, events[2000:3000])

    async def both_assigned() -> bool:
        return all(r.source.consumer.assignment() for r in (first, second))

    await _wait_for(both_assigned)
    for start in range(3000, 6000, 500):
        await _produce(kafka_bootstrap, topic, events[start : start + 500])

    async def all_stored() -> bool:
        return await _count(pool, camera) >= 6000

    await _wait_for(all_stored)
    await asyncio.sleep(1.0)
    await second.stop()
    await first.stop()
    assert await _count(pool, camera) == 6000
    assert await _rollup_reads(pool, camera) == 6000
    assert first.stats.stored + second.stats.stored == 6000
    assert second.stats.stored > 0  # it really took over partitions


async def test_cli_simulate_feeds_the_ingestor_and_lag_is_exported(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    import os
    import subprocess
    import sys

    from prometheus_client import REGISTRY

    env = {**os.environ, "ALPR_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "ALPR_KAFKA_TOPIC": topic}
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "alpr",
            "simulate",
            "--count",
            "500",
            "--rate",
            "0",
            "--malformed",
            "0.1",
            "--seed",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"sent=500 topic={topic}" in done.stdout
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, kafka_lag_interval_s=0.2
    )
    source = Running(settings, pool)
    running.append(source)
    await _wait_for(lambda: _consumed(source, 500))
    await _wait_for(lambda: _seen_all(source, 500))

    def lags() -> list[float]:
        return [
            s.value
            for m in REGISTRY.collect()
            if m.name == "alpr_ingest_consumer_lag"
            for s in m.samples
            if s.labels["topic"] == topic
        ]

    async def caught_up() -> bool:  # on every partition, as measured next
        return bool(lags()) and all(v == 0 for v in lags())

    await _wait_for(caught_up)
    await source.stop()
    assert source.stats.stored + source.stats.dead_lettered == 500
    assert 20 < source.stats.dead_lettered < 90


async def _consumed(r: Running, n: int) -> bool:
    return r.stats.consumed >= n


async def _seen_all(r: Running, n: int) -> bool:
    return r.stats.stored + r.stats.duplicates + r.stats.dead_lettered >= n


async def test_waits_for_an_absent_broker_and_stops_cleanly(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    settings = kafka_ingestor_settings(database_url, "127.0.0.1:1", f"test-{uuid.uuid4().hex}")
    source = Running(settings, pool)
    await asyncio.sleep(1.5)
    assert not source.task.done()  # still waiting for the broker, not crashed
    await source.stop()
    assert source.task.exception() is None


async def test_publish_event_is_keyed_by_camera(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    running: list[Running],
) -> None:
    from ingestor.publish import publish_event
    from schema.events import event_from_dict

    events = [event_from_dict(wire_event(camera_id=f"pub-{i % 2}")) for i in range(6)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in events:
            delivery = await publish_event(producer, event, topic)
            assert delivery.done()
    finally:
        await producer.stop()
    records = await _read(kafka_bootstrap, topic, 6)
    keys = {r.key for r in records}
    assert keys == {b"pub-0", b"pub-1"}
    for key in keys:  # one camera, one partition: its reads stay in order
        assert len({r.partition for r in records if r.key == key}) == 1
    source = Running(kafka_ingestor_settings(database_url, kafka_bootstrap, topic), pool)
    running.append(source)
    await _wait_for(lambda: _stored(source, 6))
    await source.stop()
    ids = await pool.fetchval(
        "SELECT array_agg(event_id) FROM plate_events WHERE event_id = ANY($1)",
        [e.event_id for e in events],
    )
    assert sorted(ids) == sorted(e.event_id for e in events)
