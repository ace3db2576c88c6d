"""Faults: SIGKILL of a real ingestor process, and PostgreSQL stopped mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from ingestor import metrics
from ingestor.publish import encode
from ingestor.sources.kafka import KafkaSource
from tests.factories import kafka_ingestor_settings, wire_event
from tests.support.soak_rig import Postgres

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


async def _produce(bootstrap: str, topic: str, camera: str, n: int, start: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        acks = []
        for i in range(start, start + n):
            value, key = encode(wire_event(camera_id=f"{camera}-{i % 5}", plate__text=f"Q{i}"))
            acks.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _count(url: str, camera: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM plate_events WHERE camera_id LIKE $1", f"{camera}-%"
        )
        reads = await conn.fetchval(
            "SELECT COALESCE(sum(reads), 0) FROM camera_hourly WHERE camera_id LIKE $1",
            f"{camera}-%",
        )
        return int(rows), int(reads)
    finally:
        await conn.close()


def _spawn(database_url: str, bootstrap: str, topic: str, group: str) -> asyncio.Future[Any]:
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": database_url,
        "ALPR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ALPR_KAFKA_TOPIC": topic,
        "ALPR_KAFKA_GROUP_ID": group,
        "ALPR_KAFKA_AUTO_OFFSET_RESET": "earliest",
        "ALPR_DLQ_TOPIC": f"{topic}.dlq",
        "ALPR_KAFKA_ENABLED": "true",
        "ALPR_HTTP_ENABLED": "false",
        "ALPR_INGESTOR_METRICS_PORT": "0",
        "ALPR_BATCH_SIZE": "250",
        "ALPR_BATCH_MAX_AGE_MS": "50",
        "ALPR_LOG_LEVEL": "WARNING",
    }
    return asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ingestor",
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL,
        )
    )


async def test_sigkill_mid_stream_then_restart(database_url: str, kafka_bootstrap: str) -> None:
    topic, camera, group = (
        f"test-{uuid.uuid4().hex}",
        f"k{uuid.uuid4().hex[:8]}",
        f"group-{uuid.uuid4().hex}",
    )
    await _produce(kafka_bootstrap, topic, camera, 10_000)
    first = await _spawn(database_url, kafka_bootstrap, topic, group)

    async def some_stored() -> bool:
        return (await _count(database_url, camera))[0] >= 1500

    try:
        await _wait_for(some_stored)
    finally:
        first.kill()  # SIGKILL: no flush, no commit, no goodbye
        await first.wait()
    killed_at = (await _count(database_url, camera))[0]

    second = await _spawn(database_url, kafka_bootstrap, topic, group)

    async def all_stored() -> bool:
        return (await _count(database_url, camera))[0] >= 10_000

    try:
        await _wait_for(all_stored)
        await asyncio.sleep(1.0)  # time to store anything twice, if it would
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 30)
    assert code == 0  # SIGTERM: finish, commit, leave the group, exit 0
    assert killed_at < 10_000
    assert await _count(database_url, camera) == (10_000, 10_000)


async def test_database_outage_pauses_and_recovers(
    own_postgres: tuple[Postgres, str], kafka_bootstrap: str
) -> None:
    server, url = own_postgres
    bootstrap = kafka_bootstrap
    topic, camera = f"test-{uuid.uuid4().hex}", f"o{uuid.uuid4().hex[:8]}"
    settings = kafka_ingestor_settings(url, bootstrap, topic, batch_size=200, batch_max_age_ms=50)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    stats = metrics.Stats()
    stop = asyncio.Event()
    source = KafkaSource(settings, pool, stats, max_backoff_s=1.0)
    task = asyncio.create_task(source.run(stop))
    try:
        await _produce(bootstrap, topic, camera, 1000)
        await _wait_for(lambda: _has(stats, 1000))
        assert _paused() == 0
        await server.stop("fast")
        await _produce(bootstrap, topic, camera, 2000, start=1000)  # arrive during the outage
        await asyncio.sleep(10)
        assert stats.stored == 1000  # nothing written, and nothing given up on
        assert stats.dead_lettered == 0
        # Fetching paused, the member still in the group.
        assert _paused() == 1 and source.consumer.paused()
        assert source.consumer.paused() == source.consumer.assignment()
        await server.start(url)
        await _wait_for(lambda: _has(stats, 3000), timeout=60)
        assert _paused() == 0 and not source.consumer.paused()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()
    assert await _count(url, camera) == (3000, 3000)
    assert stats.dead_lettered == 0


def _paused() -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("alpr_ingest_paused")


async def _has(stats: metrics.Stats, n: int) -> bool:
    return stats.stored + stats.duplicates >= n


async def test_broker_restart_reconnects_by_itself(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    from tests.support import kafka_broker

    if os.environ.get(kafka_broker.BOOTSTRAP_ENV):
        pytest.skip("restarts a broker of its own; not one we were given")
    broker = await asyncio.to_thread(kafka_broker.ensure_broker)
    try:
        await _restart_scenario(pool, database_url, broker)
    finally:
        await asyncio.to_thread(broker.stop)


async def _restart_scenario(pool: asyncpg.Pool[Any], url: str, broker: Any) -> None:
    from tests.support import kafka_broker

    bootstrap = broker.bootstrap_servers
    port = int(bootstrap.rsplit(":", 1)[1])
    topic, camera = f"test-{uuid.uuid4().hex}", f"b{uuid.uuid4().hex[:8]}"
    settings = kafka_ingestor_settings(url, bootstrap, topic, batch_size=200, batch_max_age_ms=50)
    stats = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats, max_backoff_s=1.0).run(stop))
    try:
        await _produce(bootstrap, topic, camera, 500)
        await _wait_for(lambda: _has(stats, 500))
        await asyncio.to_thread(
            kafka_broker._run_kafka_sh, "stop", broker.kafka_dir, port=None, timeout=90
        )
        await asyncio.sleep(3)
        assert not task.done()  # the source rides out the broker's absence
        await asyncio.to_thread(
            kafka_broker._run_kafka_sh, "start", broker.kafka_dir, port=port, timeout=300
        )
        await _produce(bootstrap, topic, camera, 500, start=500)
        await _wait_for(lambda: _has(stats, 1000), timeout=120)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert await _count(url, camera) == (1000, 1000)
    # The offsets committed after the restart hold: a new member of the group
    # reads only what came after them.
    again = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, again).run(stop))
    try:
        await _produce(bootstrap, topic, camera, 1, start=1000)
        await _wait_for(lambda: _has(again, 1))
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert (again.consumed, again.stored) == (1, 1)
