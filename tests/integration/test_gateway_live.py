"""Live subscriptions: stored reads reach every matching subscriber, in order,
a slow client is dropped without slowing others, several gateways each
deliver, a lost listener catches up; and end to end from Kafka through the
real ingestor process to a websocket client."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from gateway.live import LiveFeed
from ingestor.publish import encode
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from schema.filters import EventQuery
from schema.graphql.types import Event
from tests.factories import wire_event
from tests.integration.gateway_server import live_socket, serve, settings_for, subscribe

LIVE = """subscription($filter: LiveFilter) {
  plateDetected(filter: $filter) { id cameraId capturedAt plateNormalized plateConfidence }
}"""
# Nested objects: the scalars of camera/plate are shared per subscription
# shape; a field below them (plate.cameras) is resolved per subscriber.
NESTED = """subscription($filter: LiveFilter) {
  plateDetected(filter: $filter) {
    id cameraId plateNormalized camera { id siteId readCount } plate { text readCount }
  }
}"""
DEEP = """subscription($filter: LiveFilter) {
  plateDetected(filter: $filter) { id plate { text cameras { cameraId } } }
}"""
BUFFER = 20


def _events(n: int, cameras: list[str], start: datetime | None = None) -> list[PlateEvent]:
    start = start or datetime.now(UTC) - timedelta(minutes=30)
    events = [
        event_from_dict(
            wire_event(
                camera_id=cameras[i % len(cameras)],
                captured_at=(start + timedelta(seconds=i)).isoformat(),
                plate__text=f"LV{i % 7}",
                plate__confidence=0.6 + (i % 5) / 10,
            )
        )
        for i in range(n)
    ]
    random.Random(n).shuffle(events)  # the writer, not the producer, orders a batch
    return events


async def _write(pool: asyncpg.Pool[Any], events: list[PlateEvent]) -> None:
    async with pool.acquire() as conn:
        assert (await write_batch(conn, events)).stored == len(events)


async def _next_events(ws: ClientConnection, n: int, timeout: float = 15) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            message = json.loads(await ws.recv())
            if message["type"] in ("ka", "pong"):
                continue
            assert message["type"] in ("next", "data"), message
            assert "errors" not in message["payload"], message
            got.append(message["payload"]["data"]["plateDetected"])
    return got


async def _quiet(ws: ClientConnection, seconds: float = 0.5) -> bool:
    try:
        message = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message {message!r}")


@pytest.fixture(scope="module")
async def base_url(database_url: str) -> AsyncIterator[str]:
    settings = settings_for(
        database_url, subscription_buffer=BUFFER, max_aliases=1000, max_tokens=20000
    )
    async with serve(settings) as url:
        await _wait_listening(url)
        yield url


async def _wait_listening(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(100):
            if (await client.get("/ready")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the live feed never started listening")


def _in_capture_order_per_camera(received: list[dict[str, Any]]) -> bool:
    by_camera: dict[str, list[str]] = {}
    for event in received:
        by_camera.setdefault(event["cameraId"], []).append(event["capturedAt"])
    return all(
        [datetime.fromisoformat(t) for t in times]
        == sorted(datetime.fromisoformat(t) for t in times)
        for times in by_camera.values()
    )


async def test_every_matching_read_reaches_every_subscriber_in_order(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    cameras = [f"lv-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    batches = [_events(15, cameras, datetime.now(UTC) - timedelta(minutes=m)) for m in (50, 40, 30)]
    everything = [e for batch in batches for e in batch]
    wanted = [e for e in everything if e.camera_id == cameras[0] and e.plate_confidence >= 0.8]
    async with (
        live_socket(base_url) as all_ws,
        live_socket(base_url) as filtered_ws,
        live_socket(base_url, protocol="graphql-ws") as legacy_ws,
    ):
        await subscribe(all_ws, LIVE, {"filter": {"cameraId": None}})
        await subscribe(
            filtered_ws, LIVE, {"filter": {"cameraId": cameras[0], "minConfidence": 0.8}}
        )
        await legacy_ws.send(
            json.dumps({"id": "1", "type": "start", "payload": {"query": LIVE, "variables": {}}})
        )
        await asyncio.sleep(0.3)  # subscriptions registered before the reads are stored
        for batch in batches:
            await _write(pool, batch)
        received = await _next_events(all_ws, len(everything))
        assert sorted(e["id"] for e in received) == sorted(str(e.event_id) for e in everything)
        assert _in_capture_order_per_camera(received)
        mine = await _next_events(filtered_ws, len(wanted))
        assert {e["id"] for e in mine} == {str(e.event_id) for e in wanted}
        assert await _quiet(filtered_ws)
        legacy = await _next_events(legacy_ws, len(everything))
        assert [e["id"] for e in legacy] == [e["id"] for e in received]


async def _start_legacy(ws: ClientConnection, query: str, variables: dict[str, Any]) -> None:
    """Subscribe over graphql-ws (the Apollo protocol's `start`)."""
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": "1", "type": "start", "payload": payload}))


async def test_nested_objects_reach_shared_and_per_subscriber_subscriptions(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"nest-{uuid.uuid4().hex[:6]}"
    variables = {"filter": {"cameraId": camera}}
    async with (
        httpx.AsyncClient(base_url=base_url) as client,
        live_socket(base_url) as shared,
        live_socket(base_url, protocol="graphql-ws") as legacy,
        live_socket(base_url) as deep,
    ):
        await subscribe(shared, NESTED, variables)
        await _start_legacy(legacy, NESTED, variables)
        await subscribe(deep, DEEP, variables)
        await asyncio.sleep(0.3)
        rendered_before = _rendered((await client.get("/metrics")).text)
        batch = _events(6, [camera])
        await _write(pool, batch)
        got = await _next_events(shared, 6)
        assert {e["id"] for e in got} == {str(e.event_id) for e in batch}
        for event in got:
            assert event["camera"]["id"] == camera and event["camera"]["readCount"] >= 1
            assert event["plate"]["text"] == event["plateNormalized"]
            assert event["plate"]["readCount"] >= 1
        # Same document and variables over the other protocol: the same results.
        assert await _next_events(legacy, 6) == got
        below = await _next_events(deep, 6)
        assert [e["id"] for e in below] == [e["id"] for e in got]
        for event in below:
            assert camera in [c["cameraId"] for c in event["plate"]["cameras"]]
        # Both protocols' NESTED shared one rendering per read; DEEP had none.
        assert _rendered((await client.get("/metrics")).text) - rendered_before == 6


async def test_reads_go_out_without_nested_objects_when_the_read_pool_fails(
    database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    broken = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert broken is not None
    await broken.close()
    feed = LiveFeed(database_url, buffer=100, db=broken)
    await feed.start()
    try:
        async with asyncio.timeout(10):
            while not feed.connected:
                await asyncio.sleep(0.02)
        camera = f"nopool-{uuid.uuid4().hex[:6]}"
        subscriber = feed.subscribe(EventQuery(camera_id=camera), frozenset({"camera", "plate"}))
        batch = _events(3, [camera])
        await _write(pool, batch)
        async with asyncio.timeout(10):
            got = [await subscriber.queue.get() for _ in batch]
        assert {str(e.id) for e in got if isinstance(e, Event)} == {str(e.event_id) for e in batch}
        assert all(isinstance(e, Event) and e.camera is None and e.plate is None for e in got)
    finally:
        await feed.stop()


async def test_a_subscription_needs_a_purpose_and_leaves_one_audit_record(
    database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"why-{uuid.uuid4().hex[:6]}"
    name = f"watch_{uuid.uuid4().hex[:8]}"
    named = (
        f"subscription {name}($filter: LiveFilter) {{ plateDetected(filter: $filter) {{ id }} }}"
    )
    variables = {"filter": {"cameraId": camera}}
    async with serve(settings_for(database_url, require_purpose=True)) as url:
        await _wait_listening(url)
        async with live_socket(url) as ws:
            await subscribe(ws, named, variables)
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "FORBIDDEN"
        async with live_socket(url, {"purpose": "case 12"}) as ws:
            await subscribe(ws, named, variables)
            await asyncio.sleep(0.3)
            batch = _events(4, [camera])
            await _write(pool, batch)
            assert len(await _next_events(ws, 4)) == 4
    rows = await pool.fetch("SELECT purpose FROM audit_log WHERE operation = $1", name)
    assert [r["purpose"] for r in rows] == ["case 12"]  # one, for the one that ran


async def test_queries_on_one_socket_each_leave_their_own_result_count(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"tally-{uuid.uuid4().hex[:6]}"
    await _write(pool, _events(5, [camera]))
    name = f"count_{uuid.uuid4().hex[:8]}"
    query = (
        f"query {name}($c: String!, $n: Int!) "
        "{ events(filter: {cameraId: $c}, first: $n) { edges { node { id } } } }"
    )
    async with live_socket(base_url, {"purpose": "tally"}) as ws:
        # Two at once, then one more: the connection's reader serves all three.
        for op_id, first in (("a", 3), ("b", 2)):
            await subscribe(ws, query, {"c": camera, "n": first}, op_id)
        done = set()
        while len(done) < 2:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "complete":
                done.add(message["id"])
        await subscribe(ws, query, {"c": camera, "n": 1}, "c")
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "complete":
            pass
    rows = await pool.fetch(
        "SELECT variables, result_count FROM audit_log WHERE operation = $1", name
    )
    # Each record holds the page size the operation ran with (its `first`).
    counts = {json.loads(r["variables"])["events"]["first"]: r["result_count"] for r in rows}
    assert counts == {3: 3, 2: 2, 1: 1}


def _rendered(metrics: str) -> float:
    found = re.search(r"^alpr_gateway_live_rendered_total (\S+)$", metrics, re.M)
    return float(found[1]) if found else 0.0


def _subscribers(metrics: str) -> float:
    found = re.search(r"^alpr_gateway_subscribers (\S+)$", metrics, re.M)
    assert found is not None
    return float(found[1])


async def test_a_client_that_leaves_is_unsubscribed(base_url: str, pool: asyncpg.Pool[Any]) -> None:
    camera = f"gone-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        before = _subscribers((await client.get("/metrics")).text)
        async with live_socket(base_url) as ws:
            await subscribe(ws, LIVE, {"filter": {"cameraId": camera}})
            await asyncio.sleep(0.3)
            assert _subscribers((await client.get("/metrics")).text) == before + 1
        await _write(pool, _events(5, [camera]))  # for nobody now
        async with asyncio.timeout(10):
            while _subscribers((await client.get("/metrics")).text) != before:
                await asyncio.sleep(0.05)


async def test_a_stopped_subscription_ends_and_the_socket_stays(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"stop-{uuid.uuid4().hex[:6]}"
    variables = {"filter": {"cameraId": camera}}
    async with (
        httpx.AsyncClient(base_url=base_url) as client,
        live_socket(base_url) as modern,
        live_socket(base_url, protocol="graphql-ws") as legacy,
    ):
        before = _subscribers((await client.get("/metrics")).text)
        await subscribe(modern, LIVE, variables)
        await _start_legacy(legacy, LIVE, variables)
        await asyncio.sleep(0.3)
        assert _subscribers((await client.get("/metrics")).text) == before + 2
        await modern.send(json.dumps({"id": "1", "type": "complete"}))
        await legacy.send(json.dumps({"id": "1", "type": "stop"}))
        assert json.loads(await asyncio.wait_for(legacy.recv(), 5))["type"] == "complete"
        async with asyncio.timeout(10):
            while _subscribers((await client.get("/metrics")).text) != before:
                await asyncio.sleep(0.05)
        # The same id subscribes again on the same socket, and gets reads.
        await subscribe(modern, LIVE, variables)
        await asyncio.sleep(0.3)
        batch = _events(3, [camera])
        await _write(pool, batch)
        got = await _next_events(modern, 3)
        assert {e["id"] for e in got} == {str(e.event_id) for e in batch}
        assert await _quiet(legacy)


def _dropped(metrics: str) -> float:
    found = re.search(r"^alpr_gateway_live_dropped_subscribers_total (\S+)$", metrics, re.M)
    return float(found[1]) if found else 0.0


def _small_buffer_socket(url: str) -> socket.socket:
    # A receive buffer this small stops TCP autotuning, so a client that does
    # not read backs the server up after a few hundred kilobytes, not 30 MB.
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_a_slow_client_is_told_and_dropped_and_nobody_else_waits(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"slow-{uuid.uuid4().hex[:6]}"
    heavy_fields = " ".join(f"f{i}: frameImageUrl" for i in range(900))
    heavy = (
        "subscription($filter: LiveFilter) "
        f"{{ plateDetected(filter: $filter) {{ id {heavy_fields} }} }}"
    )
    url = base_url.replace("http://", "ws://") + "/graphql"
    sock = _small_buffer_socket(base_url)
    async with (
        connect(
            url,
            sock=sock,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_size=None,
            compression=None,  # repeated fields would deflate to nothing
        ) as slow,  # type: ignore[list-item]
        live_socket(base_url) as fast,
    ):
        await slow.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await slow.recv())["type"] == "connection_ack"
        await subscribe(slow, heavy, {"filter": {"cameraId": camera}})
        await subscribe(fast, LIVE, {"filter": {"cameraId": camera}})
        await asyncio.sleep(0.3)
        total = 0
        async with httpx.AsyncClient(base_url=base_url) as client:
            # The counter is per process: earlier tests may have dropped some.
            dropped_before = _dropped((await client.get("/metrics")).text)
            for round_ in range(40):
                batch = _events(
                    10, [camera], datetime.now(UTC) - timedelta(hours=1, minutes=round_)
                )
                await _write(pool, batch)
                total += len(batch)
                got = await _next_events(fast, len(batch), timeout=20)  # never held up
                assert {e["id"] for e in got} == {str(e.event_id) for e in batch}
                if _dropped((await client.get("/metrics")).text) > dropped_before:
                    break
            else:
                raise AssertionError("the slow client was never dropped")
        # Once it reads again, the slow client learns why it stopped.
        async with asyncio.timeout(60):
            while True:
                message = json.loads(await slow.recv())
                if message["type"] == "next" and "errors" in message["payload"]:
                    error = message["payload"]["errors"][0]
                    break
                if message["type"] == "error":
                    error = message["payload"][0]
                    break
        assert error["extensions"]["code"] == "SLOW_CONSUMER"
        assert total < 400


async def test_two_gateways_each_deliver_to_their_own_clients(
    base_url: str, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"two-{uuid.uuid4().hex[:6]}"
    async with serve(settings_for(database_url)) as other_url:
        await _wait_listening(other_url)
        async with live_socket(base_url) as one, live_socket(other_url) as two:
            for ws in (one, two):
                await subscribe(ws, LIVE, {"filter": {"cameraId": camera}})
            await asyncio.sleep(0.3)
            batch = _events(12, [camera])
            await _write(pool, batch)
            expected = {str(e.event_id) for e in batch}
            assert {e["id"] for e in await _next_events(one, 12)} == expected
            assert {e["id"] for e in await _next_events(two, 12)} == expected


async def test_a_lost_listener_reconnects_and_catches_up(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    camera = f"blip-{uuid.uuid4().hex[:6]}"
    async with live_socket(base_url) as ws:
        await subscribe(ws, LIVE, {"filter": {"cameraId": camera}})
        await asyncio.sleep(0.3)
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'alpr-gateway-live' AND datname = current_database()"
        )
        assert killed >= 1
        batch = _events(8, [camera])
        await _write(pool, batch)  # stored while the listener is away
        got = await _next_events(ws, 8)
        assert {e["id"] for e in got} == {str(e.event_id) for e in batch}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.kafka
@pytest.mark.slow
async def test_end_to_end_produce_ingest_subscribe(
    base_url: str, database_url: str, kafka_bootstrap: str
) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient

    topic = f"test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": database_url,
        "ALPR_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ALPR_KAFKA_TOPIC": topic,
        "ALPR_DLQ_TOPIC": f"{topic}.dlq",
        "ALPR_KAFKA_GROUP_ID": f"group-{uuid.uuid4().hex}",
        "ALPR_KAFKA_AUTO_OFFSET_RESET": "earliest",
        "ALPR_HTTP_ENABLED": "false",
        "ALPR_INGESTOR_METRICS_PORT": str(_free_port()),
        "ALPR_BATCH_MAX_AGE_MS": "50",
    }
    ingestor = subprocess.Popen(
        [sys.executable, "-m", "ingestor"], env=env, stderr=subprocess.DEVNULL
    )
    cameras = [f"e2e-{uuid.uuid4().hex[:6]}-{i}" for i in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        async with live_socket(base_url) as ws:
            await subscribe(ws, LIVE, {"filter": {"siteId": "E2E"}})
            await asyncio.sleep(0.3)
            await producer.start()
            start = datetime.now(UTC) - timedelta(minutes=5)
            sent = []
            for i in range(60):
                message = wire_event(
                    camera_id=cameras[i % 3],
                    captured_at=(start + timedelta(seconds=i)).isoformat(),
                    node__site="E2E",
                )
                value, key = encode(message)
                await producer.send_and_wait(topic, value=value, key=key)
                sent.append(message["event_id"])
            got = await _next_events(ws, 60, timeout=90)
            assert sorted(e["id"] for e in got) == sorted(sent)
            assert _in_capture_order_per_camera(got)
    finally:
        await producer.stop()
        ingestor.terminate()
        await asyncio.to_thread(ingestor.wait, 30)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topic, f"{topic}.dlq"])
        except Exception:  # the dlq topic may never have been made
            pass
        finally:
            await admin.close()
