"""Fuzzing the gateway: schemathesis over every REST route of its OpenAPI document and
over GraphQL queries from the SDL, and hypothesis-graphql (which schemathesis uses)
with values near the stored reads, against a real gateway (uvicorn in a thread) with
keys required and reads stored.

Every generated request is sent twice: without a key, which must give no plate data,
and with an admin key, which must give no 5xx (nor an INTERNAL_SERVER_ERROR inside a
GraphQL answer) and, when it returns plate data, must have written its audit row
first. Random values mostly draw a 4xx; the "near" strategies take plates, ids and
page sizes from the stored reads, so that many answers carry plate data and the
audit rule is tried. Examples are derandomized and their number fixed, so a run is
the same every time; `slow`-marked.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import graphql
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from core.keys import create_key
from gateway.app import create_app
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import serve, settings_for

pytestmark = [pytest.mark.slow]

EXAMPLES = 40  # per REST route and per GraphQL root field
NEAR_EXAMPLES = 300  # queries with values near the stored reads
SDL = Path(__file__).parents[2] / "schema" / "schema.graphql"
# The stored reads: plates no generator makes up, so finding one in an answer
# means the answer carries plate data.
PLATES = [f"FZQ{n:03d}" for n in range(12)]
PLATE_DATA = re.compile(r"FZQ\d{3}")
CAMERAS = [f"fz-cam-{n}" for n in range(4)]
SITES = ["fz-site-0", "fz-site-1"]
EVENT_IDS = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"fuzz-{n}")) for n in range(120)]
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
T = TypeVar("T")

OPENAPI = schemathesis.openapi.from_dict(
    create_app(settings_for("postgresql://-@127.0.0.1/-")).openapi()
)
GRAPHQL = schemathesis.graphql.from_path(SDL)


class Gateway:
    """A gateway served by uvicorn on an event loop in its own thread, so that the
    synchronous fuzzers can call it; and a connection there to count audit rows."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._started: Future[str] = Future()
        self._stop: asyncio.Event | None = None
        self._conn: asyncpg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))

    def __enter__(self) -> Gateway:
        self._thread.start()
        self.base_url = self._started.result(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)
        self._loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        # The fuzzers send thousands of made-up keys from 127.0.0.1, which the
        # failed-attempt limit would answer with 429 after the first few; the
        # properties checked here are about every other answer.
        settings = settings_for(self.database_url, require_keys=True, auth_failure_limit=1_000_000)
        try:
            async with serve(settings) as url:
                self._conn = await asyncpg.connect(self.database_url)
                self._started.set_result(url)
                await self._stop.wait()
                await self._conn.close()
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            raise

    def run(self, coroutine: Callable[[asyncpg.Connection[Any]], Awaitable[T]]) -> T:
        assert self._conn is not None
        return asyncio.run_coroutine_threadsafe(coroutine(self._conn), self._loop).result(30)

    def audit_rows(self) -> int:
        async def count(conn: asyncpg.Connection[Any]) -> int:
            return int(await conn.fetchval("SELECT count(*) FROM audit_log"))

        return self.run(count)


@pytest.fixture(scope="module")
async def admin_token(pool: asyncpg.Pool[Any]) -> str:
    events = [
        event_from_dict(
            wire_event(
                event_id=event_id,
                camera_id=CAMERAS[i % len(CAMERAS)],
                captured_at=(START + timedelta(minutes=i)).isoformat(),
                plate__text=PLATES[i % len(PLATES)],
                node__site=SITES[i % len(SITES)],
            )
        )
        for i, event_id in enumerate(EVENT_IDS)
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)
    _, token = await create_key(pool, "fuzzer", ["read", "admin"])
    return token


@pytest.fixture(scope="module")
def gateway(database_url: str, admin_token: str) -> Iterator[Gateway]:
    with Gateway(database_url) as gateway:
        yield gateway


def _check(
    gateway: Gateway, call: Callable[[dict[str, str]], requests.Response], token: str
) -> None:
    """The properties every request keeps, sent without a key and with one."""
    anonymous = call({})
    assert anonymous.status_code < 500, anonymous.text
    assert not PLATE_DATA.search(anonymous.text), "plate data without a key"
    before = gateway.audit_rows()
    response = call({"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, response.text
    assert "INTERNAL_SERVER_ERROR" not in response.text, response.text
    if PLATE_DATA.search(response.text):
        assert gateway.audit_rows() > before, "plate data without its audit row"


# ---------------------------------------------------------------- REST


@OPENAPI.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Half the paths name a stored plate, camera or read (the rest stay random)."""
    near = {
        "plate_text": st.sampled_from(PLATES),
        "camera_id": st.sampled_from(CAMERAS),
        "event_id": st.sampled_from(EVENT_IDS),
    }
    known = {name: near[name] for name in path_parameters or {} if name in near}
    if not known:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(known))


@OPENAPI.parametrize()
@FUZZ
def test_rest_routes(case: schemathesis.Case, gateway: Gateway, admin_token: str) -> None:
    def call(headers: dict[str, str]) -> requests.Response:
        return case.call(base_url=gateway.base_url, headers=headers, timeout=30)

    _check(gateway, call, admin_token)


# ---------------------------------------------------------------- GraphQL


@GRAPHQL.parametrize()
@FUZZ
def test_graphql_queries(case: schemathesis.Case, gateway: Gateway, admin_token: str) -> None:
    def call(headers: dict[str, str]) -> requests.Response:
        return case.call(base_url=f"{gateway.base_url}/graphql", headers=headers, timeout=30)

    _check(gateway, call, admin_token)


def _near_sdl() -> str:
    """The SDL with some arguments typed as scalars of the values stored here.

    The documents generated from it are documents of the real schema: in a
    document a value is a literal, and these scalars give Int and String ones.
    """
    text = SDL.read_text()
    for pattern, scalar in (
        (r"\b(first|last|hours): Int\b", "NearPage"),
        (r"\b(text|plate|query): String\b", "NearPlate"),
        (r"\b(cameraId|siteId): String\b", "NearPlace"),
        (r"\b(event\(id): ID\b", "NearEventId"),
        (r"\b(camera\(id): ID\b", "NearPlace"),
        (r"\b(beforeId): ID\b", "NearRecordId"),
        (r"\b(after|before): String\b", "NearCursor"),
        (r"\b(since): DateTime\b", "NearSince"),
        (r"\b(until): DateTime\b", "NearUntil"),
    ):
        text = re.sub(pattern, rf"\1: {scalar}", text)
    return text + "".join(f"scalar {name}\n" for name in NEAR_SCALARS if name.startswith("Near"))


NULL = graphql.NullValueNode()


def _mostly(value: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`value` four times in five, else `other` (Hypothesis starts from 0: not the rare one)."""
    return st.integers(0, 4).flatmap(lambda n: other if n == 4 else value)


def _times(offsets: st.SearchStrategy[int]) -> st.SearchStrategy[graphql.ValueNode]:
    """Minutes from the first stored read, or the calendar's ends with and without offsets."""
    zones = st.sampled_from([UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))])
    near = st.builds(lambda m, z: (START + timedelta(minutes=m)).astimezone(z), offsets, zones)
    ends = st.builds(
        lambda at, zone: at.replace(tzinfo=zone),
        st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)]),
        zones,
    )
    return _mostly(near, ends).map(lambda at: nodes.String(at.isoformat()))


NEAR_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "DateTime": _times(st.integers(-600, 600)),
    "JSON": st.just(nodes.String("{}")),
    "NearSince": _times(st.integers(-600, 60)),
    "NearUntil": _times(st.integers(61, 600)),
    "NearPage": _mostly(st.integers(1, 30), st.sampled_from([0, 500, 501])).map(nodes.Int),
    "NearPlate": _mostly(
        st.sampled_from([*PLATES, "fzq-001", "FZQ*", "FZQ?0?", "FZQ00"]), st.text(max_size=25)
    ).map(nodes.String),
    "NearPlace": _mostly(st.sampled_from(CAMERAS + SITES), st.text(max_size=60)).map(nodes.String),
    "NearEventId": _mostly(st.sampled_from(EVENT_IDS), st.text(max_size=40)).map(nodes.String),
    "NearRecordId": st.integers(0, 2**70).map(lambda n: nodes.String(str(n))),
    # Mostly none: a made-up cursor is refused, and the page with it.
    "NearCursor": _mostly(st.just(NULL), st.text(max_size=40).map(nodes.String)),
}


@given(query=queries(_near_sdl(), custom_scalars=NEAR_SCALARS))
@settings(FUZZ, max_examples=NEAR_EXAMPLES)
def test_graphql_queries_near_the_stored_reads(
    query: str, gateway: Gateway, admin_token: str
) -> None:
    def call(headers: dict[str, str]) -> requests.Response:
        url = f"{gateway.base_url}/graphql"
        return requests.post(url, json={"query": query}, headers=headers, timeout=30)

    _check(gateway, call, admin_token)
