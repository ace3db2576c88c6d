"""How far back a new entry's past hits are searched follows
ALPR_ALERT_BACKFILL_DAYS, never further than retention: through the gateway
(GraphQL and REST) and `alpr hotlist add|import` (real processes)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.keys import create_key
from tests.integration.gateway_server import gql, serve, settings_for
from tests.integration.test_hotlist_cli import alpr

ADD = """mutation($h: String!, $e: HotlistEntryInput!) {
  addHotlistEntry(hotlist: $h, entry: $e) { id } }"""


async def _since(pool: asyncpg.Pool[Any], name: str) -> list[timedelta]:
    """How far back each search of past hits of list `name` reaches, from when it was asked."""
    rows = await pool.fetch(
        "SELECT b.requested_at - b.since AS back FROM hotlist_backfills b"
        " JOIN hotlists h USING (hotlist_id) WHERE h.name = $1 ORDER BY backfill_id",
        name,
    )
    return [r["back"] for r in rows]


@pytest.mark.parametrize(
    ("settings", "days"),
    [
        ({}, 30),
        ({"alert_backfill_days": 7}, 7),
        ({"alert_backfill_days": 7, "retention_days": 3}, 3),
    ],
)
async def test_the_gateway_searches_as_far_as_the_setting_says(
    database_url: str, pool: asyncpg.Pool[Any], settings: dict[str, Any], days: int
) -> None:
    name = f"back-{uuid.uuid4().hex[:6]}"
    _, token = await create_key(pool, name, ["read", "hotlist"])
    headers = {"Authorization": f"Bearer {token}"}
    async with serve(settings_for(database_url, require_keys=True, **settings)) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            made = await client.post("/hotlists", json={"name": name})
            assert made.status_code == 201, made.text
            added = await gql(client, ADD, {"h": name, "e": {"plate": "BK1", "reason": "x"}})
            assert "errors" not in added, added
            entry = {"plate": "BK2", "reason": "x"}
            rest = await client.post(f"/hotlists/{name}/entries", json=entry)
            assert rest.status_code == 201, rest.text
    assert await _since(pool, name) == [timedelta(days=days)] * 2


async def test_the_commands_search_as_far_as_the_setting_says(
    database_url: str, pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    name = f"cli-back-{uuid.uuid4().hex[:6]}"
    alpr(database_url, "hotlist", "create", name)
    env = {"ALPR_ALERT_BACKFILL_DAYS": "5", "ALPR_RETENTION_DAYS": ""}
    alpr(database_url, "hotlist", "add", name, "CB1", "--reason", "x", env=env)
    extract = tmp_path / "list.csv"
    extract.write_text("plate,reason\nCB2,x\n")
    alpr(database_url, "hotlist", "import", str(extract), "--list", name, env=env)
    # Retention shorter than the setting bounds it, an explicit number too.
    env = {"ALPR_ALERT_BACKFILL_DAYS": "5", "ALPR_RETENTION_DAYS": "2"}
    alpr(database_url, "hotlist", "add", name, "CB3", "--reason", "x", env=env)
    nine = ("--reason", "x", "--backfill-days", "9")
    alpr(database_url, "hotlist", "add", name, "CB4", *nine, env=env)
    extract.write_text("plate,reason\nCB5,x\n")
    alpr(database_url, "hotlist", "import", str(extract), "--list", name, env=env)
    env = {"ALPR_RETENTION_DAYS": "", "ALPR_ALERT_BACKFILL_DAYS": "5"}
    alpr(database_url, "hotlist", "add", name, "CB6", *nine, env=env)
    days = [back.days for back in await _since(pool, name)]
    assert days == [5, 5, 2, 2, 2, 9]
