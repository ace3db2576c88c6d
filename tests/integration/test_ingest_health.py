"""Ingest health end to end: a real ingestor (ingestor.service.run) on a real
Kafka broker publishes its dead letters and per-partition lag to the
database, and the gateway's ingestHealth shows them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from ingestor import service
from ingestor.health import Publisher
from ingestor.metrics import Stats
from ingestor.publish import encode
from tests.factories import kafka_ingestor_settings, wire_event
from tests.integration.gateway_server import gql, serve, settings_for
from tests.support.waiting import until

pytestmark = pytest.mark.kafka

HEALTH = """{ ingestHealth {
  ingestors { ingestor sources reporting stored deadLettered lastDeadLetterAt }
  partitions { topic partition lag measuredAt ingestor } } }"""


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value=v, key=b"one") for v in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_dead_letters_and_lag_reach_ingest_health(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    topic = f"health-{uuid.uuid4().hex}"
    camera = f"h{uuid.uuid4().hex[:6]}"
    good = [encode(wire_event(camera_id=camera, plate__text=f"HL{i}"))[0] for i in range(30)]
    await _produce(kafka_bootstrap, topic, [*good[:15], b"{not json", b"[1]", *good[15:]])
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, kafka_lag_interval_s=0.5
    )
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(settings, stop))
    try:
        status = await until(
            lambda: pool.fetchrow(
                "SELECT * FROM ingestor_status WHERE stored >= 30 AND dead_lettered = 2"
                " AND stopped_at IS NULL ORDER BY updated_at DESC LIMIT 1"
            ),
            interval=0.2,
        )
        await until(  # every partition measured again once everything is stored
            lambda: pool.fetchval(
                "SELECT count(*) > 0 AND bool_and(lag = 0) FROM ingestor_lag WHERE topic = $1",
                topic,
            ),
            interval=0.2,
        )
        async with serve(settings_for(database_url)) as url, httpx.AsyncClient(base_url=url) as c:
            body = await gql(c, HEALTH)
        assert "errors" not in body, body
        health = body["data"]["ingestHealth"]
        me = next(i for i in health["ingestors"] if i["ingestor"] == status["ingestor"])
        assert me["reporting"] and me["sources"] == ["kafka"]
        assert (me["stored"], me["deadLettered"]) == (30, 2) and me["lastDeadLetterAt"]
        mine = [p for p in health["partitions"] if p["topic"] == topic]
        # Every partition of the topic, also those that never had a message.
        assert mine and all(p["lag"] == 0 and p["ingestor"] == me["ingestor"] for p in mine)
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
    stopped = await pool.fetchval(
        "SELECT stopped_at IS NOT NULL FROM ingestor_status WHERE ingestor = $1", status["ingestor"]
    )
    assert stopped


async def test_partitions_no_longer_held_leave_the_published_rows(
    pool: asyncpg.Pool[Any],
) -> None:
    stats, now = Stats(), datetime.now(UTC)
    stats.record_lag("pruned", 0, 3, now)
    stats.record_lag("pruned", 1, 4, now)
    publisher = Publisher(stats, ("kafka",), ingestor=f"prune-{uuid.uuid4().hex[:6]}:1")

    async def published() -> list[tuple[int, int]]:
        async with pool.acquire() as conn:
            await publisher.publish(conn)
        rows = await pool.fetch(
            "SELECT partition, lag FROM ingestor_lag WHERE ingestor = $1 ORDER BY partition",
            publisher.ingestor,
        )
        return [(r["partition"], r["lag"]) for r in rows]

    assert await published() == [(0, 3), (1, 4)]
    stats.drop_lag("pruned", 1)  # revoked
    assert await published() == [(0, 3)]
    stats.drop_lag("pruned", 0)
    assert await published() == []
