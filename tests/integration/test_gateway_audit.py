"""Defect 1: no plate data leaves unaudited, on any transport.

The audit table of this module's database refuses records whose purpose is
REFUSED (a CHECK constraint), and, in one test, every record. A client with
that purpose must get an error and no plate data over HTTP POST and GET,
graphql-transport-ws (queries and subscriptions), graphql-ws and REST.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, live_socket, serve, settings_for

REFUSED = "refuse this audit record"
PLATE = "FCL0SED"
CAMERA = "cam-fails-closed"
QUERY = '{ events(filter: {plate: "FCL0SED"}) { edges { node { id plateText } } } }'
LIVE = "subscription { plateDetected { id plateText cameraId } }"
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


def _reads(n: int, camera: str = CAMERA) -> list[PlateEvent]:
    start = datetime.now(UTC) - timedelta(minutes=10)
    return [
        event_from_dict(
            wire_event(
                camera_id=camera,
                captured_at=(start + timedelta(seconds=i)).isoformat(),
                plate__text=PLATE,
            )
        )
        for i in range(n)
    ]


async def _write(pool: asyncpg.Pool[Any], events: list[PlateEvent]) -> None:
    async with pool.acquire() as conn:
        assert (await write_batch(conn, events)).stored == len(events)


@pytest.fixture(scope="module")
async def base_url(database_url: str, pool: asyncpg.Pool[Any]) -> AsyncIterator[str]:
    await _write(pool, _reads(5))
    await pool.execute(
        "ALTER TABLE audit_log ADD CONSTRAINT refuse_in_test "
        f"CHECK (purpose IS DISTINCT FROM '{REFUSED}')"
    )
    async with serve(settings_for(database_url)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(100):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield url


def _no_plate_data(text: str) -> None:
    assert PLATE not in text, text
    # Neither the driver's words nor the constraint's name reach the client.
    assert "constraint" not in text.lower() and "refuse_in_test" not in text, text


async def _refused_rows(pool: asyncpg.Pool[Any]) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM audit_log WHERE purpose = $1", REFUSED))


async def test_the_same_query_with_another_purpose_is_answered(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"X-Purpose": "case 1"}
        )
    assert PLATE in response.text  # the rig works: only the refused purpose is refused


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_http_answers_an_error_without_data(
    base_url: str, pool: asyncpg.Pool[Any], method: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {"X-Purpose": REFUSED}
        if method == "POST":
            response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
        else:
            response = await client.get("/graphql", params={"query": QUERY}, headers=headers)
    _no_plate_data(response.text)
    body = response.json()
    assert body["data"] is None and error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert await _refused_rows(pool) == 0


async def _frames_until_done(ws: ClientConnection, seconds: float = 2.0) -> list[dict[str, Any]]:
    """Every frame until the operation ends (complete/error) or `seconds` pass quietly."""
    frames: list[dict[str, Any]] = []
    while True:
        try:
            text = await asyncio.wait_for(ws.recv(), seconds)
        except TimeoutError:
            return frames
        assert isinstance(text, str)
        _no_plate_data(text)
        frame = json.loads(text)
        if frame["type"] in ("ka", "pong"):
            continue
        frames.append(frame)
        if frame["type"] in ("complete", "error"):
            return frames


def _errors(frames: list[dict[str, Any]]) -> list[str]:
    codes = []
    for frame in frames:
        payload = frame.get("payload")
        if frame["type"] in ("next", "data"):
            assert payload["data"] is None, frame
            payload = payload.get("errors") or []
        if isinstance(payload, dict):
            payload = [payload]
        codes += [e.get("extensions", {}).get("code") for e in payload or []]
    return codes


async def _send(ws: ClientConnection, protocol: str, document: str) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "1", "type": kind, "payload": {"query": document}}))


async def test_a_websocket_query_answers_an_error_without_data(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    async with live_socket(base_url, {"purpose": REFUSED}) as ws:
        await _send(ws, "graphql-transport-ws", QUERY)
        frames = await _frames_until_done(ws)
    assert _errors(frames) == ["INTERNAL_SERVER_ERROR"], frames
    assert await _refused_rows(pool) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscription_that_cannot_be_recorded_sends_no_read(
    base_url: str, pool: asyncpg.Pool[Any], protocol: str
) -> None:
    async with live_socket(base_url, {"purpose": REFUSED}, protocol) as ws:
        await _send(ws, protocol, LIVE)
        frames = await _frames_until_done(ws, 1.0)
        await _write(pool, _reads(3))
        frames += await _frames_until_done(ws, 1.0)
    assert "INTERNAL_SERVER_ERROR" in _errors(frames), frames
    assert await _refused_rows(pool) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/events/recent",
        f"/events/plate/{PLATE}",
        f"/events/camera/{CAMERA}",
        "/search/plates?q=FCL0SED&mode=exact",
    ],
)
async def test_rest_answers_an_error_without_data(
    base_url: str, pool: asyncpg.Pool[Any], path: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get(path, headers={"X-Purpose": REFUSED})
    _no_plate_data(response.text)
    assert response.status_code == 500
    assert await _refused_rows(pool) == 0


async def test_rest_one_read_answers_an_error_without_data(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    event_id = await pool.fetchval(
        "SELECT event_id FROM plate_events WHERE plate_normalized_text = $1 LIMIT 1", PLATE
    )
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get(f"/events/{event_id}", headers={"X-Purpose": REFUSED})
    _no_plate_data(response.text)
    assert response.status_code == 500


async def test_an_audit_table_that_refuses_everything_stops_every_read(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    await pool.execute("ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post("/graphql", json={"query": QUERY})
            rest = await client.get(f"/events/plate/{PLATE}")
        async with live_socket(base_url) as ws:
            await _send(ws, "graphql-transport-ws", QUERY)
            frames = await _frames_until_done(ws)
        async with live_socket(base_url, protocol="graphql-ws") as legacy:
            await _send(legacy, "graphql-ws", LIVE)
            frames += await _frames_until_done(legacy, 1.0)
            await _write(pool, _reads(2, camera=f"cam-{uuid.uuid4().hex[:6]}"))
            frames += await _frames_until_done(legacy, 1.0)
    finally:
        await pool.execute("ALTER TABLE audit_log DROP CONSTRAINT refuse_all")
    _no_plate_data(response.text + rest.text)
    assert response.json()["data"] is None and rest.status_code == 500
    assert _errors(frames) == ["INTERNAL_SERVER_ERROR", "INTERNAL_SERVER_ERROR"], frames


# ------------------------------------------------- what a record holds


async def _last_record(pool: asyncpg.Pool[Any], purpose: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT operation, variables::text AS variables, result_count FROM audit_log "
        "WHERE purpose = $1 ORDER BY audit_id DESC LIMIT 1",
        purpose,
    )
    assert row is not None
    return row


@pytest.mark.parametrize("transport", ["http", "graphql-transport-ws"])
async def test_a_record_holds_the_parsed_operation_not_the_clients_words(
    base_url: str, pool: asyncpg.Pool[Any], transport: str
) -> None:
    purpose = f"contents {transport}"
    document = f"""query Real($n: Int = 2) {{
        events(filter: {{plate: "{PLATE}"}}, first: $n) {{ edges {{ cursor }} }}
    }}"""
    # A decoy plate and filler in variables the document does not declare.
    variables = {"decoy": "DECOY99", "filler": "x" * 200_000}
    payload = {"query": document, "variables": variables}
    if transport == "http":
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post("/graphql", json=payload, headers={"X-Purpose": purpose})
        assert len(response.json()["data"]["events"]["edges"]) == 2
    else:
        async with live_socket(base_url, {"purpose": purpose}) as ws:
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            frames = await _frames_until_done(ws)
        assert len(frames[0]["payload"]["data"]["events"]["edges"]) == 2
    row = await _last_record(pool, purpose)
    assert row["operation"] == "Real" and row["result_count"] == 2
    assert json.loads(row["variables"]) == {"events": {"filter": {"plate": PLATE}, "first": 2}}
    assert "DECOY99" not in row["variables"] and "xxxx" not in row["variables"]


async def test_an_oversized_record_is_cut_and_marked(
    base_url: str, pool: asyncpg.Pool[Any]
) -> None:
    # One field reads plate data; another carries 20 kB of filler (and fails).
    document = f"""{{
        a: events(filter: {{plate: "{PLATE}"}}, first: 1) {{ edges {{ cursor }} }}
        b: event(id: "{"F" * 20_000}") {{ id }}
    }}"""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/graphql", json={"query": document}, headers={"X-Purpose": "big"}
        )
    assert len(response.json()["data"]["a"]["edges"]) == 1
    row = await _last_record(pool, "big")
    assert row["operation"] == "query events,event"
    record = json.loads(row["variables"])
    assert record["truncated"] is True and record["bytes"] > 20_000
    assert len(row["variables"]) <= 8192 + 100  # jsonb's text adds a space per key
    assert record["head"].startswith('{"a: events": {"filter": {"plate": "FCL0SED"}, "first": 1}')
