"""The read replica: queries read a real streaming standby while it keeps up,
the primary while it lags or is down; keys and audit stay on the primary.

The standby is made with `pg_basebackup` from a primary started for this
module (`tests.support.replica`). That reads go to the standby is shown by
what it has not replayed yet: with its replay paused, a read written on the
primary is missing from the gateway's answers until the gateway takes the
standby out of rotation.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from core.migrate import migrate
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import wire_event
from tests.integration.gateway_server import gql, live_socket, serve, settings_for
from tests.support.replica import StreamingPair, streaming_pair

MAX_LAG_S = 3.0
CHECK_S = 0.2
SETTLE_S = MAX_LAG_S + 10  # how long a change of rotation may take, with room for a busy machine
READS = (
    "query($camera: String) { events(filter: {cameraId: $camera}, first: 10) "
    "{ edges { node { id } } } }"
)


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[StreamingPair]:
    async with streaming_pair() as pair:
        yield pair


@pytest.fixture
async def gateway(pair: StreamingPair) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(_settings(pair)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


def _settings(pair: StreamingPair) -> Any:
    return settings_for(
        pair.primary_url,
        read_database_url=pair.standby_url,
        replica_max_lag_s=MAX_LAG_S,
        replica_check_interval_s=CHECK_S,
    )


async def _write_on_primary(url: str) -> str:
    """Store one read on the primary under a new camera; returns the camera."""
    camera = f"rep-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(url)
    try:
        await write_batch(conn, [event_from_dict(wire_event(camera_id=camera))])
    finally:
        await conn.close()
    return camera


async def _count(client: httpx.AsyncClient, camera: str) -> int:
    body = await gql(client, READS, {"camera": camera})
    assert "errors" not in body, body
    return len(body["data"]["events"]["edges"])


async def _replica(client: httpx.AsyncClient) -> dict[str, Any]:
    health: dict[str, Any] = (await client.get("/health")).json()
    assert health["database"]["replica"] == health["replica"]["status"]
    return health["replica"]


async def _until(
    client: httpx.AsyncClient, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The replica's /health entry once `wanted` holds (fails after SETTLE_S)."""
    async with asyncio.timeout(SETTLE_S):
        while not wanted(replica := await _replica(client)):
            await asyncio.sleep(0.1)
    return replica


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, name
    return float(match[1])


async def test_an_idle_primary_with_a_caught_up_standby_shows_no_lag(
    pair: StreamingPair, gateway: httpx.AsyncClient
) -> None:
    await pair.wait_replayed()
    # Longer than the limit without a write: a clock-based lag would pass it.
    await asyncio.sleep(MAX_LAG_S + 1)
    replica = await _replica(gateway)
    assert replica == {"status": "ok", "in_rotation": True, "lag_seconds": 0.0, "lag_bytes": 0}
    health = (await gateway.get("/health")).json()
    assert health["status"] == "ok"
    assert health["database"] == {"primary": "ok", "replica": "ok"}
    metrics = (await gateway.get("/metrics")).text
    assert _metric(metrics, "alpr_gateway_replica_in_rotation") == 1
    assert _metric(metrics, "alpr_gateway_replica_lag_seconds") == 0
    assert _metric(metrics, "alpr_gateway_replica_lag_bytes") == 0


async def test_a_lagging_standby_leaves_rotation_and_returns_when_caught_up(
    pair: StreamingPair, gateway: httpx.AsyncClient
) -> None:
    await pair.pause_replay()
    try:
        camera = await _write_on_primary(pair.primary_url)
        # Still in rotation: the gateway reads the standby, which lacks the read.
        assert await _count(gateway, camera) == 0
        assert (await _replica(gateway))["in_rotation"] is True

        out = await _until(gateway, lambda r: not r["in_rotation"])
        assert out["status"] == "lagging"
        assert out["lag_seconds"] > MAX_LAG_S and out["lag_bytes"] > 0
        assert (await gateway.get("/health")).json()["status"] == "degraded"
        assert (await gateway.get("/ready")).status_code == 200
        metrics = (await gateway.get("/metrics")).text
        assert _metric(metrics, "alpr_gateway_replica_in_rotation") == 0
        assert _metric(metrics, "alpr_gateway_replica_lag_seconds") > MAX_LAG_S
        # Queries now read the primary.
        assert await _count(gateway, camera) == 1
    finally:
        await pair.resume_replay()

    back = await _until(gateway, lambda r: r["in_rotation"])
    assert back["status"] == "ok" and back["lag_seconds"] <= MAX_LAG_S / 2
    assert _metric((await gateway.get("/metrics")).text, "alpr_gateway_replica_in_rotation") == 1
    assert await _count(gateway, camera) == 1
    # Back on the standby: again a read it has not replayed is not seen.
    await pair.pause_replay()
    try:
        assert await _count(gateway, await _write_on_primary(pair.primary_url)) == 0
    finally:
        await pair.resume_replay()
    await _until(gateway, lambda r: r["status"] == "ok")


async def test_a_websocket_connection_follows_the_rotation(
    pair: StreamingPair, gateway: httpx.AsyncClient
) -> None:
    await _until(gateway, lambda r: r["in_rotation"])
    async with live_socket(str(gateway.base_url)) as ws:

        async def count(camera: str) -> int:
            op = uuid.uuid4().hex
            payload = {"query": READS, "variables": {"camera": camera}}
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
            result = json.loads(await asyncio.wait_for(ws.recv(), 10))
            complete = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (result["type"], complete["type"]) == ("next", "complete"), result
            return len(result["payload"]["data"]["events"]["edges"])

        await pair.pause_replay()
        try:
            camera = await _write_on_primary(pair.primary_url)
            assert await count(camera) == 0
            await _until(gateway, lambda r: not r["in_rotation"])
            assert await count(camera) == 1
        finally:
            await pair.resume_replay()
    await _until(gateway, lambda r: r["in_rotation"])


async def test_a_stopped_standby_is_out_of_rotation_and_queries_read_the_primary(
    pair: StreamingPair, gateway: httpx.AsyncClient
) -> None:
    await _until(gateway, lambda r: r["in_rotation"])
    await pair.stop_standby()
    try:
        down = await _until(gateway, lambda r: r["status"] == "unavailable")
        assert down == {
            "status": "unavailable",
            "in_rotation": False,
            "lag_seconds": None,
            "lag_bytes": None,
        }
        health = (await gateway.get("/health")).json()
        assert health["status"] == "degraded" and health["database"]["primary"] == "ok"
        assert (await gateway.get("/ready")).status_code == 200
        assert await _count(gateway, await _write_on_primary(pair.primary_url)) == 1
        # A gateway started while its replica is down reads the primary, and
        # takes the replica in once it is back.
        async with (
            serve(_settings(pair)) as url,
            httpx.AsyncClient(base_url=url) as late,
        ):
            assert (await _replica(late))["status"] == "unavailable"
            assert await _count(late, await _write_on_primary(pair.primary_url)) == 1
            await pair.start_standby()
            await _until(late, lambda r: r["status"] == "ok")
    finally:
        if not pair.standby.running():
            await pair.start_standby()
    await pair.wait_streaming()
    back = await _until(gateway, lambda r: r["status"] == "ok")
    assert back["in_rotation"] is True


async def test_a_read_database_that_is_no_standby_is_read_while_it_answers(
    pg_admin_url: str, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    other = await create_database(pg_admin_url)
    try:
        await migrate(other, "postgres")
        only_there = await _write_on_primary(other)
        settings = settings_for(
            database_url, read_database_url=other, replica_check_interval_s=CHECK_S
        )
        async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
            assert await _replica(client) == {
                "status": "ok",
                "in_rotation": True,
                "lag_seconds": None,
                "lag_bytes": None,
            }
            assert await _count(client, only_there) == 1
            # The audit record went to the primary, which a replica could not take.
            operation = await pool.fetchval(
                "SELECT operation FROM audit_log ORDER BY audit_id DESC LIMIT 1"
            )
            assert operation == "query events"

            await drop_database(pg_admin_url, other)
            await _until(client, lambda r: r["status"] == "unavailable")
            assert (await client.get("/health")).json()["status"] == "degraded"
            assert (await client.get("/ready")).status_code == 200
            assert await _count(client, await _write_on_primary(database_url)) == 1
    finally:
        await drop_database(pg_admin_url, other)
