"""A real gateway for tests: `create_app` under uvicorn on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from core.settings import GatewaySettings
from gateway.app import create_app


def settings_for(database_url: str, **changes: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "gateway_host": "127.0.0.1",
        "gateway_port": 0,
        "require_keys": False,
        "db_pool_max": 4,
        **changes,
    }
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def serve(
    settings: GatewaySettings, app: FastAPI | None = None, port: int = 0
) -> AsyncIterator[str]:
    """Run the gateway (`app`, else `create_app(settings)`) until the block ends, on
    `port` (0: any free one); yields its base URL."""
    config = uvicorn.Config(
        app or create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # as gateway/__main__.py runs it
        ws_max_size=settings.max_request_bytes,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


@contextlib.asynccontextmanager
async def live_socket(
    base_url: str,
    init_payload: dict[str, Any] | None = None,
    protocol: str = "graphql-transport-ws",
) -> AsyncIterator[ClientConnection]:
    """A websocket to /graphql after connection_init was acknowledged."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[protocol], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": init_payload or {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(
    ws: ClientConnection, query: str, variables: dict[str, Any], op_id: str = "1"
) -> None:
    await ws.send(
        json.dumps(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
