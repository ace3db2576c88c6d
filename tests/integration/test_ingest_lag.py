"""Consumer lag measured on a clock, on a real broker: idle partitions show
their lag afresh (0 once caught up, also a partition that never had a
message), and a writer that cannot store shows the lag growing with every
message that arrives, though no batch is stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY

from ingestor import metrics, service
from ingestor.publish import encode
from ingestor.sources.kafka import KafkaSource
from tests.factories import kafka_ingestor_settings, wire_event
from tests.integration.gateway_server import gql, serve, settings_for
from tests.support.soak_rig import Postgres
from tests.support.waiting import until

pytestmark = pytest.mark.kafka

INTERVAL_S = 0.5
PARTITIONS = """{ ingestHealth { partitions { topic partition lag measuredAt ingestor } } }"""


async def _create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _produce(
    bootstrap: str, topic: str, camera: str, n: int, start: int = 0, partition: int = 0
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        acks = []
        for i in range(start, start + n):
            value, key = encode(wire_event(camera_id=camera, plate__text=f"LG{i}"))
            acks.append(await producer.send(topic, value=value, key=key, partition=partition))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def test_idle_caught_up_partitions_show_lag_zero_measured_afresh(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    topic, camera = f"lag-{uuid.uuid4().hex}", f"l{uuid.uuid4().hex[:6]}"
    await _create(kafka_bootstrap, topic, partitions=2)
    await _produce(kafka_bootstrap, topic, camera, 20, partition=0)  # partition 1 stays empty
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, kafka_lag_interval_s=INTERVAL_S
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(settings, stop))
    try:
        await until(
            lambda: pool.fetchval(
                "SELECT 1 FROM plate_events WHERE camera_id = $1 HAVING count(*) = 20", camera
            )
        )
        # Producing has stopped and everything is stored: from now on the
        # partitions are idle, and each new report must measure them again.
        stored_at = datetime.now(UTC)
        rows = await until(lambda: _both(pool, topic, stored_at), timeout=30)
        assert [(r["partition"], r["lag"]) for r in rows] == [(0, 0), (1, 0)]
        async with serve(settings_for(database_url)) as url, httpx.AsyncClient(base_url=url) as c:
            body = await gql(c, PARTITIONS)
        assert "errors" not in body, body
        mine = [p for p in body["data"]["ingestHealth"]["partitions"] if p["topic"] == topic]
        assert [(p["partition"], p["lag"]) for p in mine] == [(0, 0), (1, 0)]
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0


async def _both(pool: asyncpg.Pool[Any], topic: str, since: datetime) -> list[asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT partition, lag FROM ingestor_lag"
        " WHERE topic = $1 AND measured_at > $2 ORDER BY partition",
        topic,
        since,
    )
    return rows if len(rows) == 2 else []


async def test_lag_grows_while_the_database_is_down(
    own_postgres: tuple[Postgres, str], kafka_bootstrap: str
) -> None:
    server, url = own_postgres
    bootstrap = kafka_bootstrap
    topic, camera, n = f"lag-{uuid.uuid4().hex}", f"o{uuid.uuid4().hex[:6]}", 700
    settings = kafka_ingestor_settings(
        url, bootstrap, topic, batch_size=100, batch_max_age_ms=50, kafka_lag_interval_s=INTERVAL_S
    )
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    stats = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats, max_backoff_s=1.0).run(stop))
    lag = _lag_of(stats, topic)
    try:
        await _produce(bootstrap, topic, camera, 100)
        await until(lambda: _true(stats.stored == 100 and lag() == 0))
        await server.stop("fast")
        await _produce(bootstrap, topic, camera, n, start=100)
        produced_at, started = datetime.now(UTC), asyncio.get_running_loop().time()
        await until(lambda: _true(lag() == n), timeout=4 * INTERVAL_S)
        took = asyncio.get_running_loop().time() - started
        print(f"lag reached {n} {took:.2f} s after the last message was acknowledged")
        assert stats.stored == 100  # nothing stored meanwhile: the lag is the whole backlog
        assert stats.lags[(topic, 0)].measured_at >= produced_at
        assert _gauge(topic) == n
        await server.start(url)
        await until(lambda: _true(stats.stored == 100 + n and lag() == 0))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await pool.close()


def _lag_of(stats: metrics.Stats, topic: str) -> Callable[[], int | None]:
    def lag() -> int | None:
        found = stats.lags.get((topic, 0))
        return None if found is None else found.lag

    return lag


async def _true(value: bool) -> bool:
    return value


def _gauge(topic: str) -> float | None:
    return REGISTRY.get_sample_value("alpr_ingest_consumer_lag", {"topic": topic, "partition": "0"})


async def test_revoked_partitions_leave_the_member_that_lost_them(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    topic, camera = f"lag-{uuid.uuid4().hex}", f"r{uuid.uuid4().hex[:6]}"
    await _create(kafka_bootstrap, topic, partitions=2)
    for partition in (0, 1):
        await _produce(
            kafka_bootstrap, topic, camera, 10, start=10 * partition, partition=partition
        )
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, kafka_lag_interval_s=INTERVAL_S
    )
    members: list[tuple[metrics.Stats, asyncio.Event, asyncio.Task[None]]] = []

    def join() -> metrics.Stats:
        stats, stop = metrics.Stats(), asyncio.Event()
        source = KafkaSource(settings, pool, stats, max_backoff_s=1.0)
        members.append((stats, stop, asyncio.create_task(source.run(stop))))
        return stats

    def held(stats: metrics.Stats) -> set[int]:
        return {part for (t, part) in stats.lags if t == topic}

    try:
        first = join()
        await until(lambda: _true(first.stored == 20 and held(first) == {0, 1}))
        second = join()
        # Each member measures only the partition it holds after the rebalance.
        await until(lambda: _true(len(held(first)) == len(held(second)) == 1))
        assert held(first) | held(second) == {0, 1}
    finally:
        for _, stop, _ in members:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*(task for _, _, task in members)), 60)
