"""The gateway's queries and REST twins through a real uvicorn server and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.app import _connect
from gateway.queries import fetch_events, fetch_stats
from gateway.reader import DbReader
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from schema.filters import EventQuery
from schema.paging import PageRequest
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, gql, serve, settings_for

CAMERAS = {"gw-cam-a": "S1", "gw-cam-b": "S1", "gw-cam-c": "S2"}
PLATES = ["GWA001", "GWB-002", "gwc003", "GWD004", "GWE005"]
TYPES = ["car", "truck", "Bus", "scooter"]
N = 60
BASE = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)

EVENT_FIELDS = """
  id capturedAt cameraId siteId trackId plateText plateNormalized plateConfidence plateRegion
  vehicleType vehicleTypeText vehicleMake vehicleModel vehicleColor plateImageUrl
  vehicleImageUrl frameImageUrl latencyMs qualityScore frameNumber hostId roi direction
  directionText storedAt
"""
PAGE = """
query($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {
  events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id capturedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def _events() -> list[PlateEvent]:
    cameras = list(CAMERAS)
    return [
        event_from_dict(
            wire_event(
                camera_id=cameras[i % 3],
                captured_at=(BASE + timedelta(minutes=7 * i)).isoformat(),
                plate__text=PLATES[i % 5],
                plate__confidence=0.5 + (i % 10) / 20,
                vehicle__type=TYPES[i % 4],
                vehicle__make="Toyota" if i % 2 else "Ford",
                vehicle__color="silver" if i % 3 else "red",
                extras__direction="inbound" if i % 2 else "outbound",
                node__site=CAMERAS[cameras[i % 3]],
                latency_ms=10 + i,
            )
        )
        for i in range(N)
    ]


def _newest_first(events: list[PlateEvent]) -> list[str]:
    ordered = sorted(events, key=lambda e: (e.captured_at, e.event_id), reverse=True)
    return [str(e.event_id) for e in ordered]


@pytest.fixture(scope="module")
async def stored(pool: asyncpg.Pool[Any]) -> list[PlateEvent]:
    events = _events()
    async with pool.acquire() as conn:
        result = await write_batch(conn, events)
    assert result.stored == N
    return events


@pytest.fixture(scope="module")
async def client(database_url: str, stored: list[PlateEvent]) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(database_url)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


async def _all_pages(
    client: httpx.AsyncClient, filter: dict[str, Any], size: int, backward: bool = False
) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        variables: dict[str, Any] = {"filter": filter}
        variables.update(
            {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        )
        body = await gql(client, PAGE, variables)
        assert "errors" not in body, body
        conn = body["data"]["events"]
        page = [edge["node"]["id"] for edge in conn["edges"]]
        assert len(page) <= size
        ids = page + ids if backward else ids + page
        info = conn["pageInfo"]
        more = info["hasPreviousPage"] if backward else info["hasNextPage"]
        if not more:
            return ids
        cursor = info["startCursor"] if backward else info["endCursor"]


async def test_event_has_every_field_typed_with_camera_and_plate(
    client: httpx.AsyncClient, stored: list[PlateEvent]
) -> None:
    event = stored[7]
    nested = "camera { id siteId readCount } plate { text readCount }"
    query = f"query($id: ID!) {{ event(id: $id) {{ {EVENT_FIELDS} {nested} }} }}"
    body = await gql(client, query, {"id": str(event.event_id)})
    got = body["data"]["event"]
    assert got["id"] == str(event.event_id)
    assert datetime.fromisoformat(got["capturedAt"]) == event.captured_at
    assert got["plateNormalized"] == "GWC003" and got["plateText"] == "gwc003"
    assert (got["vehicleType"], got["vehicleTypeText"]) == (
        "SCOOTER" if False else "OTHER",
        "scooter",
    )
    assert (got["direction"], got["directionText"]) == ("INBOUND", "inbound")
    assert got["plateImageUrl"] == "https://img.example/p.jpg"
    assert got["latencyMs"] == 17 and got["siteId"] == "S1"
    assert got["camera"] == {"id": "gw-cam-b", "siteId": "S1", "readCount": 20}
    assert got["plate"] == {"text": "GWC003", "readCount": 12}


async def test_event_not_found_and_bad_id(client: httpx.AsyncClient) -> None:
    body = await gql(client, '{ event(id: "0b7b1f0e-0000-4000-8000-000000000000") { id } }')
    assert error_codes(body) == ["NOT_FOUND"] and body["data"]["event"] is None
    body = await gql(client, '{ event(id: "not-a-uuid") { id } }')
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "id" in body["errors"][0]["message"]


@pytest.mark.parametrize("size", [1, 7, 25, 500])
async def test_pagination_both_directions_covers_every_read_once(
    client: httpx.AsyncClient, stored: list[PlateEvent], size: int
) -> None:
    expected = _newest_first(stored)
    assert await _all_pages(client, {}, size) == expected
    assert await _all_pages(client, {}, size, backward=True) == expected


async def test_pages_by_each_leading_key(
    client: httpx.AsyncClient, stored: list[PlateEvent]
) -> None:
    cases: list[tuple[dict[str, Any], list[PlateEvent]]] = [
        ({"plate": "gwb 002"}, [e for e in stored if e.plate_normalized_text == "GWB002"]),
        ({"cameraId": "gw-cam-c"}, [e for e in stored if e.camera_id == "gw-cam-c"]),
        ({"siteId": "S1"}, [e for e in stored if e.site_id == "S1"]),
    ]
    for filter, events in cases:
        assert await _all_pages(client, filter, 4) == _newest_first(events), filter
        assert await _all_pages(client, filter, 4, backward=True) == _newest_first(events)


async def test_filters(client: httpx.AsyncClient, stored: list[PlateEvent]) -> None:
    since, until = BASE + timedelta(hours=1), BASE + timedelta(hours=3)
    cases: list[tuple[dict[str, Any], list[PlateEvent]]] = [
        (
            {"since": since.isoformat(), "until": until.isoformat()},
            [e for e in stored if since <= e.captured_at < until],
        ),
        ({"direction": "OUTBOUND"}, [e for e in stored if e.direction == "outbound"]),
        ({"vehicleMake": "toyota"}, [e for e in stored if e.vehicle_make == "Toyota"]),
        ({"vehicleColor": "RED"}, [e for e in stored if e.vehicle_color == "red"]),
        ({"vehicleType": "BUS"}, [e for e in stored if e.vehicle_type == "Bus"]),
        ({"minConfidence": 0.9}, [e for e in stored if e.plate_confidence >= 0.9]),
        (
            {"cameraId": "gw-cam-a", "plate": "GWA001", "direction": "OUTBOUND"},
            [
                e
                for e in stored
                if e.camera_id == "gw-cam-a"
                and e.plate_normalized_text == "GWA001"
                and e.direction == "outbound"
            ],
        ),
    ]
    for filter, events in cases:
        assert events, filter  # the data set exercises every filter
        assert await _all_pages(client, filter, 500) == _newest_first(events), filter


async def test_plate_summary_with_cameras_and_reads(
    client: httpx.AsyncClient, stored: list[PlateEvent]
) -> None:
    query = """{ plate(text: "gwa-001") { text readCount firstSeen lastSeen lastCameraId
      cameras { cameraId readCount camera { siteId } }
      reads(first: 5) { edges { node { plateNormalized } } pageInfo { hasNextPage } } } }"""
    plate = (await gql(client, query))["data"]["plate"]
    mine = [e for e in stored if e.plate_normalized_text == "GWA001"]
    assert plate["text"] == "GWA001" and plate["readCount"] == len(mine) == 12
    assert datetime.fromisoformat(plate["firstSeen"]) == min(e.captured_at for e in mine)
    assert datetime.fromisoformat(plate["lastSeen"]) == max(e.captured_at for e in mine)
    assert sum(c["readCount"] for c in plate["cameras"]) == 12
    assert {c["cameraId"] for c in plate["cameras"]} == {e.camera_id for e in mine}
    assert len(plate["reads"]["edges"]) == 5 and plate["reads"]["pageInfo"]["hasNextPage"]
    body = await gql(client, '{ plate(text: "ZZZ999") { text } }')
    assert error_codes(body) == ["NOT_FOUND"]


async def test_cameras_and_sites(client: httpx.AsyncClient) -> None:
    query = """{ cameras { id siteId readCount }
      camera(id: "gw-cam-a") { id readCount reads(first: 3) { edges { node { cameraId } } } }
      sites { id cameraCount readCount cameras { id }
        reads(first: 2) { edges { node { siteId } } } } }"""
    data = (await gql(client, query))["data"]
    assert [(c["id"], c["siteId"], c["readCount"]) for c in data["cameras"]] == [
        ("gw-cam-a", "S1", 20),
        ("gw-cam-b", "S1", 20),
        ("gw-cam-c", "S2", 20),
    ]
    assert {e["node"]["cameraId"] for e in data["camera"]["reads"]["edges"]} == {"gw-cam-a"}
    sites = {s["id"]: s for s in data["sites"]}
    assert (sites["S1"]["cameraCount"], sites["S1"]["readCount"]) == (2, 40)
    assert {c["id"] for c in sites["S2"]["cameras"]} == {"gw-cam-c"}
    assert {e["node"]["siteId"] for e in sites["S2"]["reads"]["edges"]} == {"S2"}


async def test_nested_reads_narrow_to_their_owner_and_window(
    client: httpx.AsyncClient, stored: list[PlateEvent]
) -> None:
    since, until = BASE + timedelta(hours=1), BASE + timedelta(hours=5)
    reads = "reads(first: 50, since: $s, until: $u) { edges { node { id } } }"
    query = f"""query($s: DateTime, $u: DateTime) {{
      plate(text: "gwa-001") {{ {reads} }}
      camera(id: "gw-cam-b") {{ {reads} }}
      sites {{ id {reads} }} }}"""
    variables = {"s": since.isoformat(), "u": until.isoformat()}
    data = (await gql(client, query, variables))["data"]

    def ids(connection: dict[str, Any]) -> list[str]:
        return [edge["node"]["id"] for edge in connection["edges"]]

    window = [e for e in stored if since <= e.captured_at < until]
    plate = [e for e in window if e.plate_normalized_text == "GWA001"]
    camera = [e for e in window if e.camera_id == "gw-cam-b"]
    assert plate and camera
    assert ids(data["plate"]["reads"]) == _newest_first(plate)
    assert ids(data["camera"]["reads"]) == _newest_first(camera)
    for site in data["sites"]:
        mine = [e for e in window if e.site_id == site["id"]]
        assert mine and ids(site["reads"]) == _newest_first(mine)


async def test_stats_from_rollups(client: httpx.AsyncClient, stored: list[PlateEvent]) -> None:
    query = """query($since: DateTime, $until: DateTime, $cameraId: String, $siteId: String) {
      stats(since: $since, until: $until, cameraId: $cameraId, siteId: $siteId, hours: 72) {
        since until totalReads uniquePlates newPlates activeCameras avgConfidence avgLatencyMs
        readsPerHour { hour reads } } }"""
    everything = (await gql(client, query))["data"]["stats"]
    assert everything["totalReads"] == N
    assert everything["uniquePlates"] == 5 and everything["newPlates"] == 5
    assert everything["activeCameras"] == 3
    assert everything["avgConfidence"] == pytest.approx(sum(e.plate_confidence for e in stored) / N)
    assert everything["avgLatencyMs"] == pytest.approx(sum(10 + i for i in range(N)) / N)
    assert sum(p["reads"] for p in everything["readsPerHour"]) == N
    hours = [datetime.fromisoformat(p["hour"]) for p in everything["readsPerHour"]]
    assert hours == sorted(hours) and hours[0] == BASE

    window = {
        "since": (BASE + timedelta(minutes=30)).isoformat(),
        "until": (BASE + timedelta(hours=2)).isoformat(),
    }
    windowed = (await gql(client, query, window))["data"]["stats"]
    # Whole hours: [BASE, BASE+2h) holds reads 0..17 (7-minute spacing).
    assert datetime.fromisoformat(windowed["since"]) == BASE
    assert windowed["totalReads"] == len(
        [e for e in stored if e.captured_at < BASE + timedelta(hours=2)]
    )
    assert windowed["uniquePlates"] == 5  # counted over whole UTC days

    camera = (await gql(client, query, {"cameraId": "gw-cam-c"}))["data"]["stats"]
    assert camera["totalReads"] == 20 and camera["activeCameras"] == 1
    assert camera["uniquePlates"] == len(
        {e.plate_normalized_text for e in stored if e.camera_id == "gw-cam-c"}
    )
    site = (await gql(client, query, {"siteId": "S1"}))["data"]["stats"]
    assert site["totalReads"] == 40
    assert site["uniquePlates"] == len(
        {e.plate_normalized_text for e in stored if e.site_id == "S1"}
    )
    both = (await gql(client, query, {**window, "siteId": "S1"}))["data"]["stats"]
    assert both["uniquePlates"] is None  # not kept at that grain: said, not guessed


async def test_stats_counts_unique_plates_only_when_asked(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any], stored: list[PlateEvent]
) -> None:
    fragment = """query { stats(siteId: "S1", hours: 72) { ...Unique totalReads } }
      fragment Unique on Stats { uniquePlates readsPerHour { reads } }"""
    asked = (await gql(client, fragment))["data"]["stats"]
    site = [e for e in stored if e.site_id == "S1"]
    assert asked["uniquePlates"] == len({e.plate_normalized_text for e in site})
    assert asked["totalReads"] == len(site) == 40
    assert sum(hour["reads"] for hour in asked["readsPerHour"]) == 40
    skipped = await fetch_stats(pool, None, None, None, "S1", 0, count_unique=False)
    assert (skipped["unique_plates"], skipped["total_reads"], skipped["series"]) == (None, 40, [])


def _sql_count(metrics: str) -> float:
    found = re.findall(
        r'^alpr_gateway_sql_queries_total\{query="(\w+)"\} ([0-9.e+]+)$', metrics, re.M
    )
    return sum(
        float(v)
        for name, v in found
        # The live feed's statements, and the scrape's own (camera silence).
        if name not in ("batches_after", "latest_batch", "events_by_keys", "camera_gaps")
    )


async def test_gateway_sessions_plan_generically_and_never_jit(database_url: str) -> None:
    # A generic plan is costed with every branch, so JIT would compile
    # statements that run for a few milliseconds; see gateway.app._connect.
    pool = await _connect(settings_for(database_url), database_url)
    try:
        settings = await pool.fetchrow(
            "SELECT current_setting('jit') AS jit, current_setting('plan_cache_mode') AS plans"
        )
        assert settings is not None
        assert (settings["jit"], settings["plans"]) == ("off", "force_generic_plan")
    finally:
        await pool.close()


# gateway.sql events_page, as pg_prepared_statements shows it (a parameter,
# so the statement looking for it is not found too).
PAGE_STATEMENT = "%FROM alpr_events_page(%"


async def test_every_new_gateway_connection_has_planned_the_events_page(
    database_url: str,
) -> None:
    # The events page's first generic plan costs ~120 ms over a year of
    # partitions; see gateway.queries.prepare_events_page.
    pool = await _connect(settings_for(database_url, db_pool_min=1, db_pool_max=3), database_url)
    try:
        # One connection made with the pool, two more made on demand.
        async with pool.acquire() as a, pool.acquire() as b, pool.acquire() as c:
            for conn in (a, b, c):
                plans = await conn.fetch(
                    "SELECT generic_plans FROM pg_prepared_statements WHERE statement LIKE $1",
                    PAGE_STATEMENT,
                )
                assert [row["generic_plans"] for row in plans] == [1]
        # The page the client asks for uses that statement: no second one.
        await fetch_events(pool, EventQuery(plate="GWA001"), PageRequest(5))
        async with pool.acquire() as conn:
            prepared = await conn.fetchval(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1",
                PAGE_STATEMENT,
            )
            assert prepared == 1
    finally:
        await pool.close()


async def test_a_page_of_100_with_nested_objects_costs_constant_queries(
    client: httpx.AsyncClient,
) -> None:
    query = """query($n: Int) { events(first: $n) { edges { node { id
      camera { id siteId readCount } plate { text readCount } } } } }"""
    costs = []
    for n in (5, 60):
        before = _sql_count((await client.get("/metrics")).text)
        body = await gql(client, query, {"n": n})
        assert len(body["data"]["events"]["edges"]) == n
        costs.append(_sql_count((await client.get("/metrics")).text) - before)
    # One page, one camera batch, one plate batch, one audit insert.
    assert costs == [4, 4]


async def test_nested_objects_through_fragments_aliases_and_inner_pages(
    client: httpx.AsyncClient,
) -> None:
    # A page's cameras and plates are set by the page's resolver from the
    # selection: fragments, aliases and pages inside a camera must all be seen.
    query = """{ events(first: 6) { ...Page }
      camera(id: "gw-cam-b") { reads(first: 2) { edges { node { p: plate { text } } } } } }
    fragment Page on EventConnection { edges { node { cameraId plateNormalized
      ... on Event { cam: camera { id siteId } } ...Plate } } }
    fragment Plate on Event { plate { text } }"""
    body = await gql(client, query)
    nodes = [edge["node"] for edge in body["data"]["events"]["edges"]]
    assert len(nodes) == 6
    for node in nodes:
        assert node["cam"] == {"id": node["cameraId"], "siteId": CAMERAS[node["cameraId"]]}
        assert node["plate"] == {"text": node["plateNormalized"]}
    inner = body["data"]["camera"]["reads"]["edges"]
    assert len(inner) == 2
    assert all(
        edge["node"]["p"]["text"] in {p.upper().replace("-", "") for p in PLATES} for edge in inner
    )


BAD_INPUTS = [
    ("{ events(first: 0) { edges { cursor } } }", "first"),
    ("{ events(first: 501) { edges { cursor } } }", "first"),
    ("{ events(last: 501) { edges { cursor } } }", "last"),
    ('{ events(after: "bm9wZQ") { edges { cursor } } }', "after"),
    ('{ events(filter: {plate: "ABCDEFGHIJKLMNOPQRSTU"}) { edges { cursor } } }', "plate"),
    (
        '{ events(filter: {since: "2025-01-02T00:00:00Z", until: "2025-01-01T00:00:00Z"})'
        " { edges { cursor } } }",
        "until",
    ),
    ('{ events(filter: {since: "2025-01-02T00:00:00"}) { edges { cursor } } }', "since"),
    ('{ events(filter: {since: "yesterday"}) { edges { cursor } } }', "DateTime"),
    ("{ events(filter: {minConfidence: 2}) { edges { cursor } } }", "minConfidence"),
    ('{ stats(since: "2025-01-01T00:00:00") { totalReads } }', "since"),
    ("{ stats(hours: 745) { totalReads } }", "hours"),
    ('{ camera(id: "' + "c" * 51 + '") { id } }', "id"),
    ('{ plate(text: "--") { text } }', "text"),
    ("{ events(first: 5, last: 5) { edges { cursor } } }", "last"),
    ("{ nope }", "nope"),
]


@pytest.mark.parametrize(("query", "named"), BAD_INPUTS)
async def test_bad_input_is_a_coded_client_error(
    client: httpx.AsyncClient, query: str, named: str
) -> None:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code in (200, 400)
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert named in body["errors"][0]["message"]


async def test_depth_aliases_and_tokens_are_limited(client: httpx.AsyncClient) -> None:
    deep = '{ plate(text: "GWA001") { ' + "reads { edges { node { plate { " * 3 + "text"
    deep += " } } } }" * 3 + " } }"
    aliases = "{ " + " ".join(f"a{i}: stats {{ totalReads }}" for i in range(40)) + " }"
    tokens = "{ " + " ".join("__typename" for _ in range(3000)) + " }"
    for query, says in ((deep, "depth"), (aliases, "aliases"), (tokens, "tokens")):
        body = (await client.post("/graphql", json={"query": query})).json()
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert says in body["errors"][0]["message"]
        assert body.get("data") is None


@pytest.mark.parametrize(
    "value", ["x' OR '1'='1", "'; DROP TABLE plate_events; --", "gw-cam-a' --", "\\x00"]
)
async def test_sql_injection_changes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any], value: str
) -> None:
    body = await gql(client, PAGE, {"filter": {"cameraId": value}, "first": 500})
    assert body["data"]["events"]["edges"] == []
    body = await gql(client, PAGE, {"filter": {"plate": value[:20]}, "first": 500})
    edges = (body.get("data") or {}).get("events", {"edges": []})["edges"]
    assert all(edge["node"] for edge in edges)
    assert await pool.fetchval("SELECT count(*) FROM plate_events") == N


async def test_rest_twins(client: httpx.AsyncClient, stored: list[PlateEvent]) -> None:
    health = (await client.get("/health")).json()
    assert health["is_connected"] is True
    assert health["database"] == {"primary": "ok", "replica": "not configured"}
    assert (await client.get("/ready")).status_code == 200
    stats = (await client.get("/stats")).json()
    assert stats["total_events"] == N and stats["unique_plates"] == 5
    assert stats["active_cameras"] == 3 and stats["is_connected"] is True
    assert set(stats) >= {"avg_confidence", "avg_latency_ms"}

    recent = (await client.get("/events/recent", params={"limit": 10})).json()
    assert [r["event_id"] for r in recent] == _newest_first(stored)[:10]
    one = (await client.get(f"/events/{recent[0]['event_id']}")).json()
    assert one == recent[0]
    assert set(one) >= {
        "plate_text",
        "plate_normalized_text",
        "camera_id",
        "captured_at",
        "site_id",
    }

    mine = _newest_first([e for e in stored if e.plate_normalized_text == "GWD004"])
    first = await client.get("/events/plate/GWD004", params={"limit": 5})
    assert [r["event_id"] for r in first.json()] == mine[:5]
    by_offset = await client.get("/events/plate/GWD004", params={"limit": 5, "offset": 5})
    assert [r["event_id"] for r in by_offset.json()] == mine[5:10]
    by_cursor = await client.get(
        "/events/plate/GWD004", params={"limit": 5, "cursor": first.headers["x-next-cursor"]}
    )
    assert [r["event_id"] for r in by_cursor.json()] == mine[5:10]

    start, end = BASE + timedelta(hours=1), BASE + timedelta(hours=4)
    camera = await client.get(
        "/events/camera/gw-cam-b",
        params={"start_time": start.isoformat(), "end_time": end.isoformat(), "limit": 500},
    )
    expected = [e for e in stored if e.camera_id == "gw-cam-b" and start <= e.captured_at < end]
    assert [r["event_id"] for r in camera.json()] == _newest_first(expected)
    assert (await client.get("/docs")).status_code == 200
    assert "alpr_gateway_sql_queries_total" in (await client.get("/metrics")).text


async def test_operation_latency_is_labelled_by_root_fields(client: httpx.AsyncClient) -> None:
    def observed(metrics: str) -> float:
        found = re.search(
            r'^alpr_gateway_operation_seconds_count\{operation="query stats"\} ([0-9.e+]+)$',
            metrics,
            re.M,
        )
        return float(found[1]) if found else 0.0

    before = observed((await client.get("/metrics")).text)
    query = "query MyDashboard { stats { totalReads } }"
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200 and "errors" not in response.json()
    metrics = (await client.get("/metrics")).text
    assert observed(metrics) == before + 1
    assert "MyDashboard" not in metrics  # client-chosen names are not labels


@pytest.mark.parametrize(
    ("path", "params", "parameter", "status"),
    [
        ("/events/not-a-uuid", {}, "event_id", 422),
        ("/events/0b7b1f0e-0000-4000-8000-000000000000", {}, None, 404),
        ("/events/recent", {"limit": 0}, "limit", 422),
        ("/events/recent", {"limit": 501}, "limit", 422),
        ("/events/plate/GWA001", {"offset": -1}, "offset", 422),
        ("/events/plate/GWA001", {"cursor": "junk"}, "cursor", 422),
        ("/events/plate/" + "A" * 21, {}, "plate_text", 422),
        ("/events/camera/gw-cam-a", {"start_time": "2025-01-01T00:00:00"}, "start_time", 422),
        ("/events/camera/gw-cam-a", {"start_time": "never"}, "start_time", 422),
        (
            "/events/camera/gw-cam-a",
            {"start_time": "2025-01-02T00:00:00Z", "end_time": "2025-01-01T00:00:00Z"},
            "end_time",
            422,
        ),
    ],
)
async def test_rest_bad_input_names_the_parameter(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], parameter: str | None, status: int
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    if parameter is not None:
        assert parameter in response.text


async def test_audit_records_operation_variables_count_and_purpose(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any]
) -> None:
    query = "query ByPlate($f: EventFilter) { events(filter: $f, first: 3) { edges { cursor } } }"
    headers = {"X-Purpose": "case 2025-117"}
    body = await gql(client, query, {"f": {"plate": "GWE005"}}, headers=headers)
    assert len(body["data"]["events"]["edges"]) == 3
    row = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE operation = 'ByPlate' ORDER BY audit_id DESC LIMIT 1"
    )
    assert row is not None
    assert (row["result_count"], row["purpose"], row["key_id"]) == (3, "case 2025-117", None)
    assert "GWE005" in row["variables"] and row["client"] == "127.0.0.1"

    await client.get("/events/plate/GWE005", params={"limit": 2}, headers=headers)
    rest = await pool.fetchrow("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert rest is not None
    assert (rest["operation"], rest["result_count"]) == ("GET /events/plate/{plate_text}", 2)

    before = await pool.fetchval("SELECT count(*) FROM audit_log")
    await gql(client, "{ stats { totalReads } cameras { id } }")
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == before  # no plate data

    log = await gql(client, "{ auditLog(first: 2) { id operation purpose resultCount variables } }")
    assert [r["operation"] for r in log["data"]["auditLog"]] == [
        "GET /events/plate/{plate_text}",
        "ByPlate",
    ]
    assert (await client.get("/audit", params={"limit": 1})).json()[0]["result_count"] == 2


async def test_a_failing_list_item_leaves_its_loads_to_a_sibling_field(
    client: httpx.AsyncClient,
) -> None:
    # `reads` refuses first with last, failing every camera of the list, and
    # graphql-core cancels the items still waiting on their gaps: among them
    # the one `camera` waits on too, in a task nobody cancels. Its
    # CancelledError escaped the executor, and the request answered 500 (in
    # about two requests of three).
    query = """{ camera(id: "gw-cam-a") { usualGapSeconds }
      cameras { usualGapSeconds reads(first: 4, last: 4) { edges { cursor } } } }"""
    for _ in range(20):
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code == 200, response.text
        assert set(error_codes(response.json())) == {"BAD_USER_INPUT"}, response.text


async def test_one_field_cancelled_leaves_the_others_waiting_on_the_same_load(
    pool: asyncpg.Pool[Any], stored: list[PlateEvent]
) -> None:
    # graphql-core cancels the items of a list still pending when one fails;
    # the loaders hand every field asking for a key the same future, and a
    # waiter cancelled on a bare future cancels it for all.
    reader = DbReader(pool)
    camera = stored[0].camera_id
    loads = {
        "camera": lambda: reader.camera(camera),
        "gap": lambda: reader.camera_gap(camera),
        "hours": lambda: reader.camera_hours(camera, 3),
        "plate": lambda: reader.plate(stored[0].plate_normalized_text),
    }
    for name, load in loads.items():
        cancelled, waiting = asyncio.create_task(load()), asyncio.create_task(load())
        await asyncio.sleep(0)  # both wait on the load, its batch not yet sent
        cancelled.cancel()
        assert await waiting, name
        assert cancelled.cancelled(), name
    # A page's nested cameras wait on a load another field has in flight.
    page = await DbReader(pool).events(EventQuery(camera_id=camera), PageRequest(limit=1))
    reader = DbReader(pool)
    waiting = asyncio.create_task(reader.camera(camera))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(reader.attach([page.edges[0].node], frozenset({"camera"})))
    for _ in range(3):  # into attach's gather, its task, and the loader's future
        await asyncio.sleep(0)
    cancelled.cancel()
    assert await waiting
    assert cancelled.cancelled()
