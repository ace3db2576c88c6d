"""Camera health, ingest health and legal holds over GraphQL, through a real gateway:
the `silent` flag from each camera's own rollups (and its metric), reads per
hour with the empty hours, the newest stored batch, holds for admins only."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from core.holds import HoldRequest, add_hold
from core.keys import create_key
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, gql, serve, settings_for

CAMERAS = """{ cameras { id silent usualGapSeconds readsPerHour(hours: 12) { hour reads } } }"""


def _reads(camera: str, start: datetime, end: datetime, every: timedelta) -> list[PlateEvent]:
    events, at, i = [], start, 0
    while at < end:
        events.append(
            event_from_dict(
                wire_event(camera_id=camera, captured_at=at.isoformat(), plate__text=f"CH{i % 40}")
            )
        )
        at, i = at + every, i + 1
    return events


@pytest.fixture(scope="module")
async def stored(pool: asyncpg.Pool[Any]) -> dict[str, list[PlateEvent]]:
    # From when the module runs, not when it was imported (a long session).
    now = datetime.now(UTC)
    five = timedelta(minutes=5)
    reads = {
        # A read every 5 minutes for 8 hours, then nothing for the last 3.
        "ch-dead": _reads("ch-dead", now - timedelta(hours=11), now - timedelta(hours=3), five),
        # The same rhythm up to a minute ago.
        "ch-live": _reads("ch-live", now - timedelta(hours=8), now - timedelta(minutes=1), five),
        # Two reads: no rhythm to judge by.
        "ch-new": _reads("ch-new", now - timedelta(minutes=20), now, timedelta(minutes=10)),
    }
    async with pool.acquire() as conn:
        for events in reads.values():
            await write_batch(conn, events)
    return reads


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool[Any]) -> dict[str, str]:
    _, admin = await create_key(pool, "ops", ["admin"])
    _, reader = await create_key(pool, "desk", ["read"])
    return {"admin": admin, "read": reader}


@pytest.fixture(scope="module")
async def client(
    database_url: str, stored: dict[str, list[PlateEvent]], keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(database_url, require_keys=True)
    async with serve(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {keys['read']}"
        yield client


async def test_silent_from_the_cameras_own_gap(client: httpx.AsyncClient) -> None:
    body = await gql(client, CAMERAS)
    cameras = {c["id"]: c for c in body["data"]["cameras"]}
    assert cameras["ch-dead"]["silent"] is True
    assert cameras["ch-live"]["silent"] is False
    assert cameras["ch-new"]["silent"] is None and cameras["ch-new"]["usualGapSeconds"] is None
    # Twelve reads an hour: 300 s apart (the partial first and last hours say more).
    assert 300 <= cameras["ch-live"]["usualGapSeconds"] < 3600


async def test_reads_per_hour_has_every_hour(
    client: httpx.AsyncClient, stored: dict[str, list[PlateEvent]]
) -> None:
    body = await gql(client, CAMERAS)
    series = {c["id"]: c["readsPerHour"] for c in body["data"]["cameras"]}["ch-dead"]
    hours = [datetime.fromisoformat(h["hour"]) for h in series]
    assert len(hours) == 12 and hours == sorted(hours)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(hours))
    first = hours[0]
    expected = sum(1 for e in stored["ch-dead"] if e.captured_at >= first)
    assert sum(h["reads"] for h in series) == expected
    assert series[-1]["reads"] == 0  # silent for the last three hours


async def test_silent_is_a_metric(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert 'alpr_gateway_camera_silent{camera_id="ch-dead"} 1.0' in text
    assert 'alpr_gateway_camera_silent{camera_id="ch-live"} 0.0' in text
    assert 'camera_id="ch-new"' not in text
    assert "alpr_gateway_cameras_silent 1.0" in text


async def test_ingest_health_names_the_newest_batch(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "{ ingestHealth { lastBatchId lastBatchAt lastBatchReads lagSeconds storedLastHour } }",
    )
    health = body["data"]["ingestHealth"]
    assert health["lastBatchReads"] == 2  # ch-new's batch came last
    assert health["storedLastHour"] > 100
    # Its newest read was captured ten minutes before the test stored it.
    assert 600 <= health["lagSeconds"] < 660


async def test_legal_holds_for_admins(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any], keys: dict[str, str]
) -> None:
    await add_hold(pool, HoldRequest(plate="ch1", reason="case", created_by="t"))
    await add_hold(pool, HoldRequest(plate="CH2", reason="other", created_by="t"))
    query = '{ legalHolds(plate: "ch-1") { plate reason active } }'
    refused = await gql(client, query)
    assert error_codes(refused) == ["FORBIDDEN"]
    assert (
        "reading legal holds needs a key with the 'admin' scope" in refused["errors"][0]["message"]
    )
    body = await gql(client, query, headers={"Authorization": f"Bearer {keys['admin']}"})
    assert body["data"]["legalHolds"] == [{"plate": "CH1", "reason": "case", "active": True}]
