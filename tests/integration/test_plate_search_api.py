"""Plate search through a real gateway (uvicorn): GraphQL plateSearch,
plate.similar, REST /search/plates, errors and audit records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, gql, serve, settings_for

BASE = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
READS = [  # plate, camera, minutes after BASE
    ("LOS7353", "sa-cam-1", 0),
    ("LOS7353", "sa-cam-2", 10),
    ("L0S7353", "sa-cam-1", 20),
    ("LOS735", "sa-cam-2", 30),
    ("ABC1234", "sa-cam-1", 40),
    ("7353XY", "sa-cam-2", 50),
]
SEARCH = """
query Search($q: String!, $mode: SearchMode, $first: Int, $after: String, $f: PlateSearchFilter) {
  plateSearch(query: $q, mode: $mode, first: $first, after: $after, filter: $f) {
    edges { cursor node { plate score firstSeen lastSeen readCount lastRegion cameras } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
    complete
  }
}
"""


@pytest.fixture(scope="module")
async def client(database_url: str, pool: asyncpg.Pool[Any]) -> AsyncIterator[httpx.AsyncClient]:
    events = [
        event_from_dict(
            wire_event(
                plate__text=plate,
                camera_id=camera,
                captured_at=(BASE + timedelta(minutes=minutes)).isoformat(),
            )
        )
        for plate, camera, minutes in READS
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)
    async with serve(settings_for(database_url)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


def _plates(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return [e["node"]["plate"] for e in body["data"]["plateSearch"]["edges"]]


async def test_fuzzy_search_ranks_with_scores(client: httpx.AsyncClient) -> None:
    body = await gql(client, SEARCH, {"q": "L0S7353", "mode": "FUZZY"})
    edges = body["data"]["plateSearch"]["edges"]
    assert [(e["node"]["plate"], e["node"]["score"]) for e in edges] == [
        ("L0S7353", 0.0),
        ("LOS7353", 0.25),
        ("LOS735", 1.25),
    ]
    top = edges[1]["node"]
    assert top["readCount"] == 2 and top["cameras"] == ["sa-cam-2", "sa-cam-1"]
    assert datetime.fromisoformat(top["firstSeen"]) == BASE
    assert body["data"]["plateSearch"]["complete"] is True


async def test_modes_and_paging(client: httpx.AsyncClient) -> None:
    assert _plates(await gql(client, SEARCH, {"q": "los-7353", "mode": "EXACT"})) == ["LOS7353"]
    wildcard = await gql(client, SEARCH, {"q": "7353", "mode": "WILDCARD"})
    assert set(_plates(wildcard)) == {"LOS7353", "L0S7353", "7353XY"}
    first = await gql(client, SEARCH, {"q": "L0S7353", "first": 2})
    info = first["data"]["plateSearch"]["pageInfo"]
    assert _plates(first) == ["L0S7353", "LOS7353"] and info["hasNextPage"]
    rest = await gql(client, SEARCH, {"q": "L0S7353", "first": 2, "after": info["endCursor"]})
    assert _plates(rest) == ["LOS735"]
    assert rest["data"]["plateSearch"]["pageInfo"]["hasPreviousPage"]
    filtered = await gql(client, SEARCH, {"q": "L0S7353", "f": {"cameraId": "sa-cam-2"}})
    assert _plates(filtered) == ["LOS7353", "LOS735"]


async def test_similar_lists_misreads(client: httpx.AsyncClient) -> None:
    body = await gql(
        client, '{ plate(text: "LOS7353") { text similar(first: 5) { plate score } } }'
    )
    assert body["data"]["plate"]["similar"] == [
        {"plate": "L0S7353", "score": 0.25},
        {"plate": "LOS735", "score": 1.0},
    ]


async def test_bad_input_is_a_client_error(client: httpx.AsyncClient) -> None:
    body = await gql(client, SEARCH, {"q": "*?", "mode": "WILDCARD"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await gql(client, SEARCH, {"q": "L0S7353", "after": "garbage"})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    response = await client.get("/search/plates", params={"q": "AB", "mode": "fuzzy"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "BAD_USER_INPUT"


async def test_rest_search(client: httpx.AsyncClient) -> None:
    response = await client.get("/search/plates", params={"q": "L0S7353", "limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["plate"], r["score"]) for r in body] == [("L0S7353", 0.0), ("LOS7353", 0.25)]
    assert set(body[0]) == {
        "plate",
        "score",
        "first_seen",
        "last_seen",
        "read_count",
        "last_region",
        "cameras",
    }
    wildcard = await client.get("/search/plates", params={"q": "AB?1*", "mode": "wildcard"})
    assert [r["plate"] for r in wildcard.json()] == ["ABC1234"]


async def test_every_search_is_audited(client: httpx.AsyncClient, pool: asyncpg.Pool[Any]) -> None:
    headers = {"X-Purpose": "case 9"}
    await gql(client, SEARCH, {"q": "L0S7353"}, headers=headers)
    row = await pool.fetchrow("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert row is not None
    assert (row["operation"], row["result_count"], row["purpose"]) == ("Search", 3, "case 9")
    # The arguments as parsed: the query from $q, and the defaults that applied.
    arguments = json.loads(row["variables"])["plateSearch"]
    assert (arguments["query"], arguments["mode"]) == ("L0S7353", "fuzzy")

    await client.get("/search/plates", params={"q": "7353", "mode": "wildcard"}, headers=headers)
    row = await pool.fetchrow("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert row is not None
    assert (row["operation"], row["result_count"]) == ("GET /search/plates", 3)
    assert json.loads(row["variables"])["mode"] == "wildcard"
