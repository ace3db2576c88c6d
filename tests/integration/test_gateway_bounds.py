"""Bounded work per request and a 4xx for every client mistake, through a real gateway.

Each test here is a defect of issue #12 found by trying the gateway as an attacker or a
clumsy client: the query cost limit, body and message sizes, /metrics labels, and
inputs that used to reach PostgreSQL (or Python's limits) and come back as a 500.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import error_codes, gql, live_socket, serve, settings_for

NESTED = (
    "events(first: 500) { edges { node { id camera { id "
    "reads(first: 500) { edges { node { id plateText } } } } } } }"
)
PAGE_OF_500 = """{ events(first: 500) { edges { cursor node { id capturedAt plateText
  camera { id siteId lastSeen } plate { text readCount lastSeen } } }
  pageInfo { hasNextPage endCursor } } }"""
SMALL_COST = 100
DRIVER_WORDS = ("asyncpg", "Error:", "DETAIL", "invalid input", "surrogate must", "\\u0000")


@pytest.fixture(scope="module")
async def stored(pool: asyncpg.Pool[Any]) -> None:
    base = datetime.now(UTC) - timedelta(hours=5)
    events = [
        event_from_dict(
            wire_event(
                camera_id=f"bd-cam-{i % 3}",
                captured_at=(base + timedelta(minutes=i)).isoformat(),
                plate__text=f"BND{i % 7}",
            )
        )
        for i in range(40)
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)


@pytest.fixture(scope="module")
async def base_url(database_url: str, stored: None) -> AsyncIterator[str]:
    async with serve(settings_for(database_url)) as url:
        yield url


@pytest.fixture(scope="module")
async def small_url(database_url: str, stored: None) -> AsyncIterator[str]:
    """A gateway with a small cost limit and request size, to reach them cheaply."""
    settings = settings_for(database_url, max_query_cost=SMALL_COST, max_request_bytes=4096)
    async with serve(settings) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def _cost_refused(body: dict[str, Any], cost: int, limit: int) -> None:
    assert body.get("data") is None, body
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    message = body["errors"][0]["message"]
    assert f"cost {cost}" in message and f"limit of {limit}" in message


# ---------------------------------------------------------------- query cost


async def test_a_page_of_reads_each_with_a_page_of_reads_is_refused_before_it_runs(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any]
) -> None:
    audits = await pool.fetchval("SELECT count(*) FROM audit_log")
    _cost_refused(await gql(client, f"{{ {NESTED} }}"), 500 * 501, 10_000)
    thirty = " ".join(f"a{i}: {NESTED}" for i in range(30))
    _cost_refused(await gql(client, f"{{ {thirty} }}"), 30 * 500 * 501, 10_000)
    # Through variables and fragments too.
    query = """query($n: Int) { ...F } fragment F on Query {
      events(first: $n) { edges { node { plate { reads(first: $n) { edges { cursor } } } } } } }"""
    _cost_refused(await gql(client, query, {"n": 200}), 200 * 201, 10_000)
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == audits  # nothing ran


async def test_the_documented_uses_are_within_the_limit(client: httpx.AsyncClient) -> None:
    for query in (
        PAGE_OF_500,
        '{ plate(text: "BND1") { text cameras { cameraId } reads(first: 100) '
        "{ edges { node { id } } } } }",
        "{ stats { totalReads readsPerHour { hour reads } } sites { id cameras { id } } }",
        '{ plateSearch(query: "BND1", first: 100) { edges { node { plate } } } }',
    ):
        body = await gql(client, query)
        assert "errors" not in body, body


async def test_the_cost_limit_holds_over_both_websocket_protocols(small_url: str) -> None:
    over = "{ events(first: 101) { edges { node { id } } } }"
    live = "subscription { plateDetected { id camera { reads(first: 200) { edges { cursor } } } } }"
    operations = [("q", over, 101), ("s", live, 200)]
    for protocol, start, result, sent in (
        ("graphql-transport-ws", "subscribe", "next", operations),
        ("graphql-ws", "start", "data", operations[1:]),  # it runs subscriptions only
    ):
        async with live_socket(small_url, protocol=protocol) as ws:
            for op_id, query, cost in sent:
                message = {"id": op_id, "type": start, "payload": {"query": query}}
                await ws.send(json.dumps(message))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                while reply["type"] == "complete":  # the end of the previous operation
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert reply["id"] == op_id and reply["type"] in (result, "error"), reply
                payload = reply["payload"]
                errors = payload if isinstance(payload, list) else payload["errors"]
                _cost_refused({"errors": errors}, cost, SMALL_COST)


# ---------------------------------------------------------------- sizes


async def test_a_body_over_the_limit_is_413_with_a_message(small_url: str) -> None:
    async with httpx.AsyncClient(base_url=small_url) as client:
        big = {"query": "{ sites { id } }", "variables": {"pad": "x" * 5000}}
        response = await client.post("/graphql", json=big)
        assert response.status_code == 413
        assert error_codes(response.json()) == ["BAD_USER_INPUT"]
        assert "4096 bytes" in response.json()["errors"][0]["message"]
        rest = await client.post("/admin/holds", json={"reason": "x" * 5000, "plate": "A1"})
        assert rest.status_code == 413 and "4096 bytes" in rest.json()["detail"]
        ok = await client.post("/graphql", json={"query": "{ sites { id } }"})
        assert ok.status_code == 200 and "errors" not in ok.json()


def _raw(url: str, request: bytes, chunks: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending
        return sock.recv(4096)


async def test_a_declared_length_over_the_limit_is_refused_without_reading(small_url: str) -> None:
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    # Nothing of the body is sent: an answer proves the server did not wait for it.
    answer = await asyncio.to_thread(_raw, small_url, request)
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer


async def test_a_chunked_body_over_the_limit_is_refused(small_url: str) -> None:
    request = (
        b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 1000
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 64
    answer = await asyncio.to_thread(_raw, small_url, request, chunks)
    assert answer.startswith(b"HTTP/1.1 413")
    async with httpx.AsyncClient(base_url=small_url) as client:

        async def small_body() -> AsyncIterator[bytes]:
            yield b'{"query": "{ sites'
            yield b' { id } }"}'

        ok = await client.post(
            "/graphql", content=small_body(), headers={"content-type": "application/json"}
        )
        assert ok.status_code == 200 and ok.json()["data"]["sites"]


async def test_a_websocket_message_over_the_limit_closes_the_socket(small_url: str) -> None:
    url = small_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"pad": "x" * 5000}}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_url_over_64_kib_is_refused_by_the_server(base_url: str) -> None:
    request = b"GET /graphql?query=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    answer = await asyncio.to_thread(_raw, base_url, request)
    assert answer.startswith(b"HTTP/1.1 400")


# ---------------------------------------------------------------- /metrics


def _series(metrics: str) -> set[str]:
    return {line.split(" ")[0] for line in metrics.splitlines() if not line.startswith("#")}


async def test_made_up_names_do_not_grow_metrics(client: httpx.AsyncClient) -> None:
    await gql(client, "{ zzWarmUp }")  # the "other" series, made once
    await client.request("PROPFIND", "/nowhere")
    await client.get("/metrics")  # its own series, made once
    before = (await client.get("/metrics")).text

    async def send(batch: int) -> None:
        names = " ".join(f"madeUp{batch}x{i}" for i in range(10))
        await client.post("/graphql", json={"query": f"{{ {names} }}"})
        await client.post("/graphql", json={"query": f"{{ ...frag{batch} }}"})
        await client.request(f"X{batch}", f"/made/up/{batch}")

    for start in range(0, 300, 30):  # 3,000 made-up field names, 300 fragment names
        await asyncio.gather(*(send(b) for b in range(start, start + 30)))
    after = (await client.get("/metrics")).text
    assert _series(after) == _series(before)
    assert "madeUp" not in after and "frag" not in after and "X1" not in after
    assert len(after) < len(before) + 2000  # counts grew, nothing else


# ---------------------------------------------------------------- 4xx, not 500


YEAR_0 = "0001-01-01T00:00:00+05:00"
YEAR_10000 = "9999-12-31T23:59:59-05:00"
BAD_GRAPHQL = [
    ('{ events(filter: {plate: "A\\u0000B"}) { edges { cursor } } }', {}, "plate"),
    (
        "query($p: String) { events(filter: {cameraId: $p}) { edges { cursor } } }",
        {"p": "\x00"},
        "cameraId",
    ),
    (
        "query($p: String) { events(filter: {siteId: $p}) { edges { cursor } } }",
        {"p": "\ud800"},
        "siteId",
    ),
    (
        "query($p: String) { events(filter: {vehicleMake: $p}) { edges { cursor } } }",
        {"p": "\x00"},
        "vehicleMake",
    ),
    ('{ camera(id: "a\\u0000") { id } }', {}, "id"),
    ('{ plate(text: "AB\\u0000C") { text } }', {}, "text"),
    ("query($q: String!) { plateSearch(query: $q) { complete } }", {"q": "A\x00"}, "query"),
    ('{ plateSearch(query: "A", filter: {region: "\\u0000"}) { complete } }', {}, "region"),
    (f'{{ events(filter: {{since: "{YEAR_0}"}}) {{ edges {{ cursor }} }} }}', {}, "since"),
    (f'{{ events(filter: {{until: "{YEAR_10000}"}}) {{ edges {{ cursor }} }} }}', {}, "until"),
    (f'{{ stats(since: "{YEAR_0}") {{ totalReads }} }}', {}, "since"),
    (
        f'{{ plate(text: "BND1") {{ reads(until: "{YEAR_10000}") {{ edges {{ cursor }} }} }} }}',
        {},
        "until",
    ),
    (f'{{ plateSearch(query: "A", filter: {{since: "{YEAR_0}"}}) {{ complete }} }}', {}, "since"),
    ('{ auditLog(beforeId: "99999999999999999999") { id } }', {}, "beforeId"),
    ('{ auditLog(beforeId: "²") { id } }', {}, "beforeId"),
    ('{ auditLog(keyId: "\\u0000") { id } }', {}, "keyId"),
]


@pytest.mark.parametrize(("query", "variables", "named"), BAD_GRAPHQL)
async def test_bad_graphql_arguments_are_client_errors_naming_them(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], named: str
) -> None:
    # Sent as ASCII JSON: a lone surrogate travels as its \\u escape.
    response = await client.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["message"].startswith(f"{named}:"), body


async def test_forged_cursors_with_impossible_times_are_not_ours(client: httpx.AsyncClient) -> None:
    # A cursor of this API's format whose time has no UTC equivalent.
    forged = (
        "djF8MDAwMS0wMS0wMVQwMDowMDowMCswNTowMHwxMjNlNDU2Ny1lODliLTEyZDMtYTQ1Ni00MjY2MTQxNzQwMDA"
    )
    body = await gql(
        client, "query($a: String) { events(after: $a) { edges { cursor } } }", {"a": forged}
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"].startswith("after:")
    response = await client.get("/events/plate/BND1", params={"cursor": forged})
    assert response.status_code == 422 and response.json()["parameter"] == "cursor"


async def test_window_bounds_at_the_calendars_ends_are_served(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        """{ stats(since: "0001-01-01T00:00:00Z", until: "9999-12-31T23:59:59Z")
             { totalReads readsPerHour { reads } }
           events(filter: {since: "0001-01-01T00:00:00Z", until: "9999-12-31T23:59:59Z"})
             { edges { cursor } } }""",
    )
    assert "errors" not in body, body
    assert body["data"]["stats"]["totalReads"] == 40


BAD_REST = [
    ("GET", "/events/plate/AB%00C", None, "plate_text"),
    ("GET", "/events/camera/a%00b", None, "camera_id"),
    ("GET", f"/events/camera/c?start_time={YEAR_0.replace('+', '%2B')}", None, "start_time"),
    ("GET", f"/events/camera/c?end_time={YEAR_10000}", None, "end_time"),
    ("GET", "/events/plate/BND1?cursor=%00", None, "cursor"),
    ("GET", "/search/plates?q=AB%00C", None, "q"),
    ("GET", "/search/plates?q=A&region=%00", None, "region"),
    ("GET", f"/search/plates?q=A&since={YEAR_0.replace('+', '%2B')}", None, "since"),
    ("GET", "/audit?before_id=99999999999999999999", None, "before_id"),
    ("GET", "/audit?key_id=%00", None, "key_id"),
    ("GET", "/admin/holds?case=%00", None, "case"),
    ("POST", "/admin/holds/99999999999999999999/release", {"reason": "x"}, "hold_id"),
    ("POST", "/admin/holds/cases/%00/release", {"reason": "x"}, "case_number"),
    ("POST", "/admin/holds/1/release", {"reason": "\x00"}, "reason"),
    ("POST", "/admin/holds", {"plate": "A\x00", "reason": "r"}, "plate"),
    ("POST", "/admin/holds", {"plate": "A1", "reason": "r\ud800"}, "reason"),
    ("POST", "/admin/holds", {"plate": "A1", "reason": "r", "case_number": "\x00"}, "case_number"),
    ("POST", "/admin/holds", {"plate": "A1", "reason": "r", "held_from": YEAR_0}, "held_from"),
    (
        "POST",
        "/admin/holds",
        {"plate": "A1", "reason": "r", "held_until": YEAR_10000},
        "held_until",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "named"), BAD_REST)
async def test_bad_rest_parameters_are_422_naming_them(
    client: httpx.AsyncClient, method: str, path: str, body: Any, named: str
) -> None:
    content = json.dumps(body).encode() if body is not None else None
    response = await client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert named in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (path, body)
        for path in ("/graphql", "/admin/holds", "/admin/holds/1/release")
        for body in (b"null", b"5", b'"text"', b"[1]", b"[]", b"true")
    ],
)
async def test_a_json_body_that_is_not_an_object_is_a_client_error(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.text  # with a message


@pytest.mark.parametrize("depth", [100, 800, 10_000])
async def test_deeply_nested_variables_are_a_client_error(
    client: httpx.AsyncClient, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    query = "query($p: JSON) { sites { id } }"
    for content in (
        f'{{"query": "{query}", "variables": {{"p": {nested}}}}}',
        f'{{"query": "{query}", "extensions": {nested}}}',
    ):
        response = await client.post(
            "/graphql", content=content.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and "nested deeper" in response.text
    by_get = await client.get("/graphql", params={"query": "{ sites { id } }", "variables": nested})
    assert by_get.status_code == 400 and "nested deeper" in by_get.text
    rest = await client.post(
        "/admin/holds", content=nested.encode(), headers={"content-type": "application/json"}
    )
    assert rest.status_code in (400, 422)


async def test_a_subscription_over_http_is_400_with_a_message(client: httpx.AsyncClient) -> None:
    for send in (
        client.post("/graphql", json={"query": "subscription { plateDetected { id } }"}),
        client.get("/graphql", params={"query": "subscription { plateDetected { id } }"}),
    ):
        response = await send
        assert response.status_code == 400
        assert "subscriptions are not allowed" in response.text


async def test_the_deepest_document_the_parser_takes_is_no_500(client: httpx.AsyncClient) -> None:
    for levels in (150, 190, 250, 1000):
        query = "{ " + "... on Query { " * levels + "sites { id }" + " }" * levels + " }"
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code in (200, 400), response.text
        codes = error_codes(response.json())
        assert codes in ([], ["BAD_USER_INPUT"]), response.text


async def test_a_failure_after_the_operation_ran_leaks_no_driver_text(
    client: httpx.AsyncClient,
) -> None:
    # Declared but unused variables were stored in the audit record as sent; PostgreSQL's
    # json refuses NUL and lone surrogates, and its message reached the client.
    for value in ("\x00", "\ud800"):
        query = "query($unused: String) { events(first: 2) { edges { cursor } } }"
        response = await client.post(
            "/graphql",
            content=json.dumps({"query": query, "variables": {"unused": value}}).encode(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code < 500
        text = response.text
        assert not any(word in text for word in DRIVER_WORDS), text
        body = response.json()
        assert body.get("data") or error_codes(body) in (
            ["INTERNAL_SERVER_ERROR"],
            ["BAD_USER_INPUT"],
        )


async def test_reading_the_audit_log_is_recorded(
    client: httpx.AsyncClient, pool: asyncpg.Pool[Any]
) -> None:
    # Found by the fuzzer: audit records name the plates that were asked for, and
    # reading them left no record.
    await client.get("/events/plate/BND3")
    count = "SELECT count(*) FROM audit_log"
    before = await pool.fetchval(count)
    listed = (await client.get("/audit", params={"limit": 5})).json()
    assert any("BND3" in record["variables"] for record in listed)
    body = await gql(client, "query Oversight { auditLog(first: 5) { id variables } }")
    assert "errors" not in body, body
    assert await pool.fetchval(count) == before + 2
    rows = await pool.fetch(
        "SELECT operation, result_count FROM audit_log ORDER BY audit_id DESC LIMIT 2"
    )
    assert [(r["operation"], r["result_count"]) for r in rows] == [
        ("Oversight", len(body["data"]["auditLog"])),
        ("GET /audit", len(listed)),
    ]
