"""Live reads over both websocket protocols: the gateway's shared rendering
sends, frame for frame, what Strawberry's own protocol handlers send.

The same gateway serves /graphql (its handlers: each read rendered once per
subscription shape, `gateway.websocket`) and /own/graphql (Strawberry's
handlers: each read executed for each subscriber by Strawberry). Clients
subscribe to the same documents on both, the same reads are stored, and the
frames must be identical: id, type, payload with its key order. This is the
end-to-end half of tests/unit/test_library_internals.py: an upgrade of
Strawberry or graphql-core that changes what the fast path relies on fails
here.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from websockets.asyncio.client import ClientConnection

from gateway.app import GRAPHQL_PATH, GraphQLApp, create_app, graphql_context
from gateway.graphql_schema import build_schema
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import live_socket, serve, settings_for

# Shapes a client may send: plain fields, aliases, fragments, @skip/@include on
# variables, __typename, enums and nulls, nested camera/plate scalars, a
# response key selected twice (no plan: graphql-core renders it), and a
# field below plate (not shared: executed per subscriber by Strawberry).
DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    (
        """subscription($f: LiveFilter) { plateDetected(filter: $f) {
          id capturedAt cameraId siteId trackId plateText plateNormalized plateConfidence
          plateRegion vehicleType vehicleTypeText vehicleMake vehicleModel vehicleColor
          plateImageUrl vehicleImageUrl frameImageUrl latencyMs qualityScore frameNumber
          hostId roi direction directionText storedAt } }""",
        {},
    ),
    (
        """subscription Watch($f: LiveFilter, $withPlate: Boolean!) {
          live: plateDetected(filter: $f) {
            __typename readId: id ...Where vehicleType
            plate @include(if: $withPlate) { text readCount lastRegion }
            camera @skip(if: $withPlate) { id siteId __typename }
            latencyMs @skip(if: false)
          }
        }
        fragment Where on Event { cameraId capturedAt ... on Event { direction } }""",
        {"withPlate": True},
    ),
    (
        """subscription Watch($f: LiveFilter, $withPlate: Boolean!) {
          live: plateDetected(filter: $f) {
            __typename readId: id ...Where vehicleType
            plate @include(if: $withPlate) { text readCount lastRegion }
            camera @skip(if: $withPlate) { id siteId __typename }
            latencyMs @skip(if: false)
          }
        }
        fragment Where on Event { cameraId capturedAt ... on Event { direction } }""",
        {"withPlate": False},
    ),
    (
        """subscription($f: LiveFilter) { plateDetected(filter: $f) {
          id camera { id firstSeen } camera { readCount } plate { text } } }""",
        {},
    ),
    (
        """subscription($f: LiveFilter) { plateDetected(filter: $f) {
          id plate { text cameras { cameraId readCount } } } }""",
        {},
    ),
]
READS = 6


class StrawberryOwn(GraphQLApp):
    """The gateway's router with Strawberry's own protocol handlers and socket."""

    graphql_transport_ws_handler_class = BaseGraphQLTransportWSHandler  # type: ignore[assignment]
    graphql_ws_handler_class = BaseGraphQLWSHandler  # type: ignore[assignment]
    websocket_adapter_class = ASGIWebSocketAdapter  # type: ignore[assignment]


@pytest.fixture(scope="module")
async def base_url(database_url: str) -> AsyncIterator[str]:
    settings = settings_for(database_url, max_aliases=1000, max_tokens=20000)
    app = create_app(settings)
    own = StrawberryOwn(build_schema(settings), context_getter=graphql_context)
    app.include_router(own, prefix=f"/own{GRAPHQL_PATH}")
    async with serve(settings, app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(100):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield url


def _reads(camera: str) -> list[PlateEvent]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return [
        event_from_dict(
            wire_event(
                camera_id=camera,
                captured_at=(start + timedelta(seconds=i)).isoformat(),
                plate__text=f"PR{i % 3}",
                vehicle__type=["car", "lorry", None][i % 3],
                vehicle__model=None,
                extras__direction=["inbound", "sideways", None][i % 3],
                extras__quality_score=None if i % 2 else 0.5,
            )
        )
        for i in range(READS)
    ]


async def _start(ws: ClientConnection, protocol: str, op_id: str, doc: str, variables: Any) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": doc, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": kind, "payload": payload}))


async def _frames(ws: ClientConnection, n: int) -> dict[str, list[Any]]:
    """`n` result frames by operation id, each with its keys in order, sorted."""
    frames: dict[str, list[Any]] = defaultdict(list)
    async with asyncio.timeout(20):
        for _ in range(n):
            while True:
                text = await ws.recv()
                frame = json.loads(text, object_pairs_hook=lambda pairs: pairs)
                if dict(frame)["type"] not in ("ka", "pong"):
                    break
            frames[dict(frame)["id"]].append(frame)
    return {op: sorted(found, key=repr) for op, found in frames.items()}


def _rendered(metrics: str) -> float:
    found = re.search(r"^alpr_gateway_live_rendered_total (\S+)$", metrics, re.M)
    return float(found[1]) if found else 0.0


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_shared_rendering_sends_what_strawberry_sends(
    base_url: str, pool: asyncpg.Pool[Any], protocol: str
) -> None:
    camera = f"proto-{uuid.uuid4().hex[:6]}"
    async with (
        httpx.AsyncClient(base_url=base_url) as client,
        live_socket(base_url, protocol=protocol) as ours,
        live_socket(f"{base_url}/own", protocol=protocol) as own,
    ):
        for n, (document, variables) in enumerate(DOCUMENTS):
            variables = {**variables, "f": {"cameraId": camera}}
            await _start(ours, protocol, str(n), document, variables)
            await _start(own, protocol, str(n), document, variables)
        await asyncio.sleep(0.3)  # subscribed before the reads are stored
        rendered = _rendered((await client.get("/metrics")).text)
        async with pool.acquire() as conn:
            await write_batch(conn, _reads(camera))
        expected = await _frames(own, READS * len(DOCUMENTS))
        assert await _frames(ours, READS * len(DOCUMENTS)) == expected
        # Ours rendered each read once per shared document (not the last).
        shared = len(DOCUMENTS) - 1
        assert _rendered((await client.get("/metrics")).text) - rendered == READS * shared
