"""Keys, scopes and purposes at the gateway: HTTP, REST and websocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.keys import create_key, revoke_key
from gateway import __main__ as gateway_main
from gateway.app import create_app
from tests.integration.gateway_server import error_codes, gql, live_socket, serve, settings_for

QUERY = "{ events(first: 1) { edges { cursor } } }"


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool[Any]) -> dict[str, str]:
    tokens = {}
    for name, scopes in (("reader", ["read"]), ("feeder", ["ingest"]), ("boss", ["admin"])):
        _, tokens[name] = await create_key(pool, f"gw-{name}", scopes)  # type: ignore[arg-type]
    _, tokens["revoked"] = await create_key(pool, "gw-revoked", ["read"])
    await revoke_key(pool, tokens["revoked"].split("_")[1])
    return tokens


@pytest.fixture(scope="module")
async def base_url(database_url: str, keys: dict[str, str]) -> AsyncIterator[str]:
    async with serve(settings_for(database_url, require_keys=True)) as url:
        yield url


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_graphql_needs_a_valid_key_with_read(base_url: str, keys: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        cases = [
            ({}, 401, "UNAUTHENTICATED"),
            (_bearer("alpr_nope_nope"), 401, "UNAUTHENTICATED"),
            (_bearer(keys["revoked"]), 401, "UNAUTHENTICATED"),
            (_bearer(keys["feeder"]), 403, "FORBIDDEN"),
        ]
        for headers, status, code in cases:
            response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert response.status_code == status
            assert error_codes(response.json()) == [code]
        ok = await gql(client, QUERY, headers=_bearer(keys["reader"]))
        assert ok["data"]["events"]["edges"] == []
        also = await gql(client, QUERY, headers={"X-API-Key": keys["reader"]})
        assert "errors" not in also
        # Queries over GET need the key as well.
        by_get = await client.get("/graphql", params={"query": QUERY})
        assert by_get.status_code == 401
        # The GraphiQL page itself loads without a key; its queries need one.
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_rest_needs_a_key_and_audit_needs_admin(
    base_url: str, keys: dict[str, str], pool: asyncpg.Pool[Any]
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        denied = await client.get("/events/recent")
        assert denied.status_code == 401 and denied.json()["code"] == "UNAUTHENTICATED"
        assert (await client.get("/stats", headers=_bearer(keys["feeder"]))).status_code == 403
        reader = _bearer(keys["reader"])
        assert (await client.get("/events/recent", headers=reader)).status_code == 200
        assert (await client.get("/audit", headers=reader)).status_code == 403
        log = await gql(client, "{ auditLog { id } }", headers=reader)
        assert error_codes(log) == ["FORBIDDEN"]
        boss = _bearer(keys["boss"])
        records = (await client.get("/audit", headers=boss)).json()
        reader_id = keys["reader"].split("_")[1]
        assert any(
            r["key_id"] == reader_id and r["operation"] == "GET /events/recent" for r in records
        )
        log = await gql(client, "{ auditLog(first: 500) { keyId operation } }", headers=boss)
        assert {"keyId": reader_id, "operation": "query events"} in log["data"]["auditLog"]
        # Health and metrics carry no plate data and serve load balancers.
        assert (await client.get("/health")).status_code == 200


async def test_websocket_key_travels_in_connection_init(
    base_url: str, keys: dict[str, str]
) -> None:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    payload = {"authorization": f"Bearer {keys['reader']}", "purpose": "watch list"}
    async with live_socket(base_url, payload) as ws:
        assert ws.state.name == "OPEN"


async def test_purpose_can_be_mandatory(database_url: str, keys: dict[str, str]) -> None:
    settings = settings_for(database_url, require_keys=True, require_purpose=True)
    async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        reader = _bearer(keys["reader"])
        refused = await gql(client, QUERY, headers=reader)
        assert (
            error_codes(refused) == ["FORBIDDEN"] and "purpose" in refused["errors"][0]["message"]
        )
        assert (await client.get("/events/recent", headers=reader)).status_code == 403
        fine = await gql(client, QUERY, headers={**reader, "X-Purpose": "investigation 7"})
        assert "errors" not in fine
        # Statistics carry no plate data: no purpose needed.
        assert "errors" not in await gql(client, "{ stats { totalReads } }", headers=reader)


def test_keys_off_only_on_loopback(database_url: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        create_app(settings_for(database_url, gateway_host="0.0.0.0", require_keys=False))
    assert create_app(settings_for(database_url, gateway_host="::1", require_keys=False))
    assert create_app(settings_for(database_url, gateway_host="localhost", require_keys=False))


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::"])
def test_keys_off_on_every_interface_refuses_to_start(
    database_url: str, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 3: an empty host (or a wildcard) with keys off refuses to start,
    in `create_app` and in the process entry point, before anything binds."""
    with pytest.raises(ValueError, match="ALPR_REQUIRE_KEYS=false"):
        create_app(settings_for(database_url, gateway_host=host, require_keys=False))
    monkeypatch.setenv("ALPR_DATABASE_URL", database_url)
    monkeypatch.setenv("ALPR_REQUIRE_KEYS", "false")
    with pytest.raises(ValueError, match="ALPR_REQUIRE_KEYS=false"):
        gateway_main.serve(host=host, port=0)
    # With keys required, any bind is the operator's choice.
    assert create_app(settings_for(database_url, gateway_host=host, require_keys=True))


async def test_uvicorn_binds_every_interface_for_an_empty_host() -> None:
    """Why "" is refused above: uvicorn (asyncio) listens on 0.0.0.0 (and ::) for it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    config = uvicorn.Config(app, host="", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.02)
        bound = {s.getsockname()[0] for srv in server.servers for s in srv.sockets}
    finally:
        server.should_exit = True
        await task
    assert "0.0.0.0" in bound and bound <= {"0.0.0.0", "::"}


async def test_introspection_and_graphiql_can_be_turned_off(database_url: str) -> None:
    settings = settings_for(database_url, introspection=False, graphiql=False)
    async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
        body = await gql(client, "{ __schema { types { name } } }")
        assert set(error_codes(body)) == {"BAD_USER_INPUT"} and body.get("data") is None
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
