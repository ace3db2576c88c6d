"""Keys at the gateway over time: revocation and expiry on open connections
(defect 2), failed attempts counted, logged and limited (defect 8), purposes
PostgreSQL cannot store refused at the door."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.keys import create_key, revoke_key
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, gql, live_socket, serve, settings_for

QUERY = "{ events(first: 1) { edges { node { plateText } } } }"
LIVE = "subscription($c: String) { plateDetected(filter: {cameraId: $c}) { id plateText } }"
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


@pytest.fixture(scope="module")
async def base_url(database_url: str) -> AsyncIterator[str]:
    async with serve(settings_for(database_url, require_keys=True)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(100):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield url


async def _write(pool: asyncpg.Pool[Any], camera: str, n: int) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    events = [
        event_from_dict(
            wire_event(camera_id=camera, captured_at=(start + timedelta(seconds=i)).isoformat())
        )
        for i in range(n)
    ]
    async with pool.acquire() as conn:
        assert (await write_batch(conn, events)).stored == n


async def _start(ws: ClientConnection, protocol: str, op_id: str, document: str, **v: Any) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": document, "variables": v}
    await ws.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))


async def _data_frame(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] in ("next", "data"):
            assert "errors" not in frame["payload"], frame
            return dict(frame)


async def _until_closed(ws: ClientConnection, seconds: float) -> tuple[int | None, list[Any]]:
    """The close code and every frame that came before it."""
    frames = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                frames.append(json.loads(await ws.recv()))
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), frames
    except TimeoutError:
        return None, frames


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_revoked_key_closes_its_open_websockets_within_5s(
    base_url: str, pool: asyncpg.Pool[Any], protocol: str
) -> None:
    """Defect 2: after `alpr keys revoke`, the socket is closed (4403) and sends no more."""
    key_id, token = await create_key(pool, f"wall display {protocol}", ["read"])
    _, other = await create_key(pool, "another display", ["read"])
    camera = f"rev-{uuid.uuid4().hex[:6]}"
    async with (
        live_socket(base_url, {"authorization": f"Bearer {token}"}, protocol) as ws,
        live_socket(base_url, {"authorization": f"Bearer {other}"}, protocol) as bystander,
    ):
        for socket in (ws, bystander):
            await _start(socket, protocol, "live", LIVE, c=camera)
        await asyncio.sleep(0.3)
        await _write(pool, camera, 1)
        assert (await _data_frame(ws))["payload"]["data"]["plateDetected"]
        await _data_frame(bystander)

        await revoke_key(pool, key_id)
        revoked_at = time.monotonic()
        code, _ = await _until_closed(ws, 5.0)
        assert code == 4403 and time.monotonic() - revoked_at < 5.0
        # The other key's socket stays and still gets its reads.
        await _write(pool, camera, 1)
        await _data_frame(bystander)
    # New requests with the revoked key are refused too, within the same 5 s.
    async with httpx.AsyncClient(base_url=base_url) as client:
        while (
            await client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": token})
        ).status_code == 200:
            await asyncio.sleep(0.1)
    assert time.monotonic() - revoked_at < 5.0


async def test_after_revocation_no_query_is_answered_on_the_socket(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    """Defect 2: queries sent on the socket after revocation get no data."""
    key_id, token = await create_key(pool, "query console", ["read"])
    await _write(pool, f"q-{uuid.uuid4().hex[:6]}", 1)
    async with live_socket(base_url, {"authorization": token}) as ws:
        await _start(ws, "graphql-transport-ws", "before", QUERY)
        assert (await _data_frame(ws))["payload"]["data"]["events"]["edges"]
        await revoke_key(pool, key_id)
        code = None
        deadline = time.monotonic() + 5.0
        for n in range(100):  # keep asking until the socket is closed
            try:
                await _start(ws, "graphql-transport-ws", f"after-{n}", QUERY)
            except ConnectionClosed:
                break
            code, _ = await _until_closed(ws, 0.1)
            if code is not None or time.monotonic() > deadline:
                break
        code = code or (await _until_closed(ws, 1.0))[0]
    assert code == 4403 and time.monotonic() <= deadline + 0.5


async def test_an_expiring_key_closes_its_websocket(base_url: str, pool: asyncpg.Pool[Any]) -> None:
    """Defect 8 (expiry) on an open connection: closed within 5 s of the expiry."""
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    _, token = await create_key(pool, "temp badge", ["read"], expires)
    async with live_socket(base_url, {"authorization": token}, "graphql-ws") as ws:
        code, _ = await _until_closed(ws, 7.0)
    assert code == 4403 and datetime.now(UTC) - expires < timedelta(seconds=5)


# --------------------------------------------------- failed authentication


def _failures(metrics: str, transport: str, reason: str) -> float:
    found = re.search(
        rf'^alpr_gateway_auth_failures_total{{reason="{reason}",transport="{transport}"}} (\S+)$',
        metrics,
        re.M,
    )
    return float(found[1]) if found else 0.0


async def test_failed_attempts_are_counted_logged_and_limited(
    database_url: str, pool: asyncpg.Pool[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 8: refused keys are counted and logged without secrets; an address
    that keeps guessing gets 429 (Retry-After) and websocket close 4429."""
    _, good = await create_key(pool, "good", ["read"])
    settings = settings_for(
        database_url, require_keys=True, auth_failure_limit=3, auth_failure_window_s=30
    )
    secret = "S3cretPartNeverLogged" + "x" * 22
    guess = f"alpr_0badc0de_{secret}"
    async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        before = (await client.get("/metrics")).text
        with caplog.at_level(logging.WARNING, logger="gateway.auth"):
            missing = await client.post("/graphql", json={"query": QUERY})
            assert missing.status_code == 401  # no key: no guess, not limited
            for _ in range(3):
                wrong = await client.get("/events/recent", headers={"X-API-Key": guess})
                assert wrong.status_code == 401
            limited = await client.post(
                "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {good}"}
            )
            rest = await client.get("/events/recent", headers={"X-API-Key": good})
            ws_url = url.replace("http://", "ws://") + "/graphql"
            async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
                init = {"type": "connection_init", "payload": {"authorization": good}}
                await ws.send(json.dumps(init))
                code, frames = await _until_closed(ws, 5.0)
        after = (await client.get("/metrics")).text

    assert limited.status_code == 429 and error_codes(limited.json()) == ["TOO_MANY_REQUESTS"]
    assert 0 < int(limited.headers["Retry-After"]) <= 30
    assert rest.status_code == 429 and rest.json()["code"] == "TOO_MANY_REQUESTS"
    assert code == 4429 and frames == []
    assert _failures(after, "rest", "unknown") - _failures(before, "rest", "unknown") == 3
    assert _failures(after, "http", "missing") - _failures(before, "http", "missing") == 1
    assert _failures(after, "http", "rate_limited") == 1
    assert _failures(after, "ws", "rate_limited") == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.auth"]
    assert sum("reason=unknown" in line and "key_id=0badc0de" in line for line in lines) == 3
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "gateway.auth")
    assert not any(secret in line or good in line for line in lines)


async def test_the_limit_ends_with_its_window(database_url: str, pool: asyncpg.Pool[Any]) -> None:
    _, good = await create_key(pool, "patient", ["read"])
    settings = settings_for(
        database_url, require_keys=True, auth_failure_limit=2, auth_failure_window_s=1
    )
    async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        for _ in range(2):
            await client.get("/stats", headers={"X-API-Key": "alpr_00000000_guess"})
        assert (await client.get("/stats", headers={"X-API-Key": good})).status_code == 429
        await asyncio.sleep(1.1)
        assert (await client.get("/stats", headers={"X-API-Key": good})).status_code == 200


async def test_a_purpose_postgresql_cannot_store_is_refused_at_the_door(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    """Defect 1's trigger: a NUL in connection_init's purpose used to fail the
    audit insert after the data went out; now the connection is refused (4400)."""
    _, token = await create_key(pool, "nul", ["read"])
    ws_url = base_url.replace("http://", "ws://") + "/graphql"
    for protocol in PROTOCOLS:
        async with connect(ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            payload = {"authorization": token, "purpose": "case\x00 7"}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            code, frames = await _until_closed(ws, 5.0)
        assert code == 4400 and all(f["type"] != "connection_ack" for f in frames), protocol
    async with httpx.AsyncClient(base_url=base_url) as client:
        body = await gql(client, QUERY, headers={"Authorization": token, "X-Purpose": "case\t7"})
    assert "errors" not in body  # a tab is fine
