"""The legal-hold admin API through a real gateway (uvicorn): admin scope,
placing, listing and releasing holds, and retention honouring them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from core.keys import create_key
from ingestor.retention import RetentionPolicy, run_retention
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import serve, settings_for

OLD = datetime.now(UTC) - timedelta(days=90)


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool[Any]) -> dict[str, str]:
    _, admin = await create_key(pool, "dpo", ["admin"])
    _, reader = await create_key(pool, "analyst", ["read"])
    return {"admin": admin, "read": reader}


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(database_url, require_keys=True)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_holds_need_the_admin_scope(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    assert (await client.get("/admin/holds")).status_code == 401
    assert (await client.get("/admin/holds", headers=_auth(keys["read"]))).status_code == 403
    listed = await client.get("/admin/holds", headers=_auth(keys["admin"]))
    assert listed.status_code == 200
    assert listed.json() == []


async def test_place_list_release_and_retention(
    client: httpx.AsyncClient, keys: dict[str, str], pool: asyncpg.Pool[Any]
) -> None:
    events = [
        event_from_dict(
            wire_event(plate__text=plate, captured_at=(OLD + timedelta(minutes=i)).isoformat())
        )
        for i, plate in enumerate(["API-HOLD", "API-FREE", "API-EV"])
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)
    admin = _auth(keys["admin"])
    by_plate = await client.post(
        "/admin/holds",
        json={"plate": "api-hold", "case_number": "R-1", "reason": "court order 7"},
        headers=admin,
    )
    assert by_plate.status_code == 201, by_plate.text
    assert by_plate.json()["plate"] == "APIHOLD"
    assert by_plate.json()["created_by"].startswith("dpo (")
    by_event = await client.post(
        "/admin/holds",
        json={"event_id": str(events[2].event_id), "case_number": "R-1", "reason": "evidence"},
        headers=admin,
    )
    assert by_event.status_code == 201
    bad = await client.post("/admin/holds", json={"reason": "no target"}, headers=admin)
    assert bad.status_code == 422
    assert "exactly one" in bad.json()["detail"]

    listed = (await client.get("/admin/holds", params={"case": "R-1"}, headers=admin)).json()
    assert [h["hold_id"] for h in listed] == [
        by_plate.json()["hold_id"],
        by_event.json()["hold_id"],
    ]

    async with pool.acquire() as conn:
        await run_retention(conn, RetentionPolicy(default_days=30))
    left = {r["plate_normalized_text"] for r in await pool.fetch("SELECT * FROM plate_events")}
    assert left == {"APIHOLD", "APIEV"}

    one = await client.post(
        f"/admin/holds/{by_event.json()['hold_id']}/release",
        json={"reason": "returned"},
        headers=admin,
    )
    assert one.json() == {"released": [by_event.json()["hold_id"]]}
    case = await client.post(
        "/admin/holds/cases/R-1/release", json={"reason": "closed"}, headers=admin
    )
    assert case.json() == {"released": [by_plate.json()["hold_id"]]}
    again = await client.post("/admin/holds/cases/R-1/release", json={"reason": "x"}, headers=admin)
    assert again.status_code == 404
    history = (await client.get("/admin/holds", params={"all": "true"}, headers=admin)).json()
    assert {h["active"] for h in history} == {False}
    assert {h["released_by"].split(" ")[0] for h in history} == {"dpo"}
