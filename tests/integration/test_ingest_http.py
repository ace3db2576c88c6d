"""POST /ingest over a real uvicorn server into a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from core.keys import create_key
from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.sources.http import make_server, serve_http
from tests.factories import DELETE, wire_event
from tests.support.soak_rig import Postgres


def _settings(database_url: str, **changes: Any) -> IngestorSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_enabled": False,
        "ingest_http_host": "127.0.0.1",
        "ingest_http_port": 0,
        "ingestor_metrics_port": None,
        "ingest_max_body_bytes": 64 * 1024,
        "batch_size": 7,  # small, so a body spans several batches
    }
    values.update(changes)
    return IngestorSettings(**values)


class Server:
    def __init__(self, settings: IngestorSettings, pool: asyncpg.Pool[Any]) -> None:
        self.stats = metrics.Stats()
        self.server = make_server(settings, pool, self.stats)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve_http(settings, pool, self.stats, self.stop, server=self.server)
        )

    async def url(self) -> str:
        while not self.server.started:
            await asyncio.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def open_server(pool: asyncpg.Pool[Any], database_url: str) -> AsyncIterator[str]:
    server = Server(_settings(database_url), pool)
    yield await server.url()
    await server.close()


@pytest.fixture
async def keyed_server(pool: asyncpg.Pool[Any], database_url: str) -> AsyncIterator[str]:
    server = Server(_settings(database_url, require_keys=True), pool)
    yield await server.url()
    await server.close()


BAD: list[tuple[Any, str]] = [
    (wire_event(plate__text=DELETE), "plate.text: required field is missing"),
    (wire_event(plate__confidence=7), "plate.confidence"),
    (wire_event(captured_at="not a date"), "captured_at"),
    (wire_event(captured_at="2026-11-27T10:00:00"), "no UTC offset"),
    (wire_event(camera_id="c" * 51), "camera_id"),
    ("a string", "expected a JSON object"),
]


async def _count(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM plate_events WHERE camera_id = $1", camera)
    )


async def test_array_with_good_and_bad(pool: asyncpg.Pool[Any], open_server: str) -> None:
    camera = f"h{uuid.uuid4().hex[:8]}"
    items: list[Any] = [wire_event(camera_id=camera) for _ in range(20)]
    for i, (bad, _) in enumerate(BAD):
        items.insert(3 * i + 1, bad)
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{open_server}/ingest", content=orjson.dumps(items))
        again = await client.post(f"{open_server}/ingest", content=orjson.dumps(items))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stored"], body["duplicates"]) == (20, 0)
    assert [r["index"] for r in body["rejected"]] == [3 * i + 1 for i in range(len(BAD))]
    for rejected, (_, reason) in zip(body["rejected"], BAD, strict=True):
        assert reason in rejected["reason"]
    assert again.json()["duplicates"] == 20 and again.json()["stored"] == 0
    assert await _count(pool, camera) == 20


async def test_single_object_and_ndjson(pool: asyncpg.Pool[Any], open_server: str) -> None:
    camera = f"n{uuid.uuid4().hex[:8]}"
    lines = [orjson.dumps(wire_event(camera_id=camera)) for _ in range(5)]
    lines.insert(2, b"{broken")
    lines.insert(4, b"\xff\xfe")
    async with httpx.AsyncClient() as client:
        one = await client.post(
            f"{open_server}/ingest", content=orjson.dumps(wire_event(camera_id=camera))
        )
        nd = await client.post(
            f"{open_server}/ingest",
            content=b"\n".join(lines) + b"\n",
            headers={"content-type": "application/x-ndjson"},
        )
        bad_one = await client.post(
            f"{open_server}/ingest", content=orjson.dumps(wire_event(plate__confidence=-1))
        )
    assert one.status_code == 200 and one.json()["stored"] == 1
    assert nd.status_code == 200 and nd.json()["stored"] == 5
    assert [(r["index"], r["reason"].split(":")[1].strip()) for r in nd.json()["rejected"]] == [
        (2, "not JSON"),
        (4, "not UTF-8"),
    ]
    assert bad_one.status_code == 422
    assert await _count(pool, camera) == 6


async def test_body_over_the_limit(open_server: str) -> None:
    big = orjson.dumps([wire_event() for _ in range(300)])
    assert len(big) > 64 * 1024
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{open_server}/ingest", content=big)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: streamed
            for i in range(0, len(big), 4096):
                yield big[i : i + 4096]

        streamed = await client.post(f"{open_server}/ingest", content=chunks())
    assert response.status_code == 413
    assert streamed.status_code == 413


async def test_keys_when_required(pool: asyncpg.Pool[Any], keyed_server: str) -> None:
    _, reader = await create_key(pool, "reader", ["read"])
    _, writer = await create_key(pool, "edge box", ["ingest"])
    body = orjson.dumps(wire_event())
    async with httpx.AsyncClient() as client:
        anonymous = await client.post(f"{keyed_server}/ingest", content=body)
        wrong = await client.post(
            f"{keyed_server}/ingest", content=body, headers={"authorization": f"Bearer {reader}"}
        )
        right = await client.post(
            f"{keyed_server}/ingest", content=body, headers={"authorization": f"Bearer {writer}"}
        )
    assert anonymous.status_code == 401
    assert wrong.status_code == 403
    assert right.status_code == 200 and right.json()["stored"] == 1


async def test_the_ingestor_reads_keys_as_the_gateway_does(
    pool: asyncpg.Pool[Any], keyed_server: str
) -> None:
    """Defect 8: `X-API-Key` (and a bare key in Authorization) work here too."""
    _, writer = await create_key(pool, "edge box 2", ["ingest"])
    async with httpx.AsyncClient() as client:
        for headers in ({"X-API-Key": writer}, {"Authorization": writer}):
            body = orjson.dumps(wire_event())
            response = await client.post(f"{keyed_server}/ingest", content=body, headers=headers)
            assert response.status_code == 200 and response.json()["stored"] == 1, headers
        wrong = await client.post(
            f"{keyed_server}/ingest", content=b"{}", headers={"X-API-Key": "alpr_nope_nope"}
        )
    assert wrong.status_code == 401


async def test_simulated_traffic_over_http(pool: asyncpg.Pool[Any], open_server: str) -> None:
    from ingestor.simulate import Simulation, SimulationConfig, send_to_http

    sim = Simulation(SimulationConfig(cameras=3, malformed=0.1, seed=11))
    before = int(await pool.fetchval("SELECT count(*) FROM plate_events"))
    totals = await send_to_http(sim.messages(), 300, f"{open_server}/ingest", per_request=50)
    assert totals["stored"] + totals["rejected"] == 300
    assert 10 < totals["rejected"] < 60
    after = int(await pool.fetchval("SELECT count(*) FROM plate_events"))
    assert after - before == totals["stored"]


async def test_ingestor_process_http_only(pool: asyncpg.Pool[Any], database_url: str) -> None:
    """What `alpr up` runs without a broker: HTTP source only; SIGTERM exits 0."""
    import os
    import signal
    import socket
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": database_url,
        "ALPR_KAFKA_ENABLED": "false",
        "ALPR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # would fail if it were used
        "ALPR_INGEST_HTTP_PORT": str(port),
        "ALPR_INGESTOR_METRICS_PORT": "0",
        "ALPR_STATS_INTERVAL_S": "0.2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ingestor", env=env, stderr=asyncio.subprocess.PIPE
    )
    camera = f"p{uuid.uuid4().hex[:8]}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    response = await client.post(
                        f"http://127.0.0.1:{port}/ingest",
                        content=orjson.dumps(wire_event(camera_id=camera, plate__text="SECRET1")),
                    )
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.1)
        assert response.status_code == 200 and response.json()["stored"] == 1
        await asyncio.sleep(0.5)  # a stats line or two
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    assert await _count(pool, camera) == 1
    log = stderr.decode()
    assert "ingest stats" in log and "stored=1" in log
    assert "SECRET1" not in log  # plate text never at INFO


async def test_a_large_bad_body_gets_a_small_answer(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    lines = 50_000
    server = Server(_settings(database_url, ingest_max_body_bytes=10 * 1024 * 1024), pool)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=120) as client:
            answer = await client.post("/ingest", content=b"x\n" * lines)
    finally:
        await server.close()
    assert answer.status_code == 422
    assert len(answer.content) < 20_000
    body = answer.json()
    assert (body["stored"], body["duplicates"]) == (0, 0)
    assert (body["rejected_count"], body["rejections_truncated"]) == (lines, True)
    assert [item["index"] for item in body["rejected"]] == list(range(100))
    assert body["rejected"][0]["reason"].startswith("message: not JSON")


async def test_the_rejections_listed_are_configurable(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    camera = f"r{uuid.uuid4().hex[:8]}"
    items: list[Any] = [wire_event(camera_id=camera), "a", "b", wire_event(camera_id=camera), "c"]
    server = Server(_settings(database_url, ingest_max_rejections=2), pool)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", json=items)
    finally:
        await server.close()
    assert answer.status_code == 200
    body = answer.json()
    assert (body["stored"], body["rejected_count"], body["rejections_truncated"]) == (2, 3, True)
    assert [item["index"] for item in body["rejected"]] == [1, 2]


async def test_other_requests_are_served_while_a_large_body_is_decoded(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    # About five seconds of decoding on this machine: served in one go it
    # held every other request that long.
    body = b"x\n" * 250_000
    server = Server(_settings(database_url, ingest_max_body_bytes=10 * 1024 * 1024), pool)
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=120) as client:
            ingesting = asyncio.create_task(client.post("/ingest", content=body))
            await asyncio.sleep(0.3)  # the body is being decoded now
            while not ingesting.done():
                started = asyncio.get_running_loop().time()
                assert (await client.get("/health")).status_code == 200
                latencies.append(asyncio.get_running_loop().time() - started)
                await asyncio.sleep(0.05)
            assert (await ingesting).json()["rejected_count"] == 250_000
    finally:
        await server.close()
    assert len(latencies) >= 10
    assert max(latencies) < 1.5, sorted(latencies)[-5:]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"null", "message: expected a JSON object, got null"),
        (b"42", "message: expected a JSON object, got a number"),
        (b'"an event"', "message: expected a JSON object, got a string"),
        (b"true", "message: expected a JSON object, got a boolean"),
        (b"[null]", "message: expected a JSON object, got null"),
    ],
)
async def test_a_body_that_is_not_an_event_is_refused_clearly(
    open_server: str, body: bytes, reason: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{open_server}/ingest", content=body)
    assert answer.status_code == 422
    assert answer.json()["rejected"] == [{"index": 0, "reason": reason}]


@pytest.mark.parametrize("body", [b"", b"[]", b"\n\n"])
async def test_a_body_without_events_is_refused(open_server: str, body: bytes) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{open_server}/ingest", content=body)
    assert answer.status_code == 422
    assert answer.json()["rejected_count"] == 0
    assert "holds no event" in answer.json()["detail"]


class _CuttingPool:
    """A real pool whose connections lose their server session as they are
    handed out, as at the start of an outage."""

    def __init__(self, pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]) -> None:
        self.pool, self.admin = pool, admin

    async def acquire(self) -> Any:
        conn = await self.pool.acquire()
        await self.admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        return conn

    async def release(self, conn: Any) -> None:
        await self.pool.release(conn)


async def test_a_connection_cut_under_a_request_is_503(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    admin = await asyncpg.connect(database_url)
    own = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert own is not None
    server = Server(_settings(database_url), _CuttingPool(own, admin))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answers = [await client.post("/ingest", json=wire_event()) for _ in range(16)]
    finally:
        await server.close()
        await asyncio.wait_for(own.close(), 30)
        await admin.close()
    assert [a.status_code for a in answers] == [503] * 16
    assert {a.headers["retry-after"] for a in answers} == {"5"}
    assert {a.json()["detail"] for a in answers} == {"storage unavailable, retry later"}


class _Client:
    """An edge device: sends its reads one request each, in order; a 503 is
    retried after a pause; every status answered is kept."""

    def __init__(self, base_url: str, token: str, camera: str) -> None:
        self.base_url, self.token, self.camera = base_url, token, camera
        self.statuses: list[int] = []
        self.retry_after: set[str | None] = set()
        self.sent: list[str] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30) as c:
            while not self.stop.is_set():
                event = wire_event(camera_id=self.camera)
                while (answer := await c.post("/ingest", json=event)).status_code != 200:
                    self.statuses.append(answer.status_code)
                    if answer.status_code != 503:
                        return
                    self.retry_after.add(answer.headers.get("retry-after"))
                    await asyncio.sleep(0.1)
                self.statuses.append(200)
                self.sent.append(event["event_id"])


async def _sent_at_least(client: _Client, n: int, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while len(client.sent) < n:
            await asyncio.sleep(0.05)


async def test_a_database_stopped_and_started_under_requests_is_503_then_stored(
    own_postgres: tuple[Postgres, str],
) -> None:
    """Regression (issue 12): at the start of an outage the HTTP source answered
    a 500 (a driver error raised mid-call, untranslated). A real PostgreSQL is
    stopped under a steady stream of keyed requests (the key check reads the
    database too) and started again: every answer is 200 or 503 with
    Retry-After, and the client's retries store each read once."""
    client, stored = await _outage(*own_postgres)
    assert set(client.statuses) == {200, 503}, client.statuses  # the outage was met
    assert client.retry_after == {"5"}
    assert sorted(stored) == sorted(client.sent)
    assert client.statuses[-1] == 200


async def _outage(server: Postgres, url: str) -> tuple[_Client, list[str]]:
    """Requests through a stop and a start of `server`: the client, the ids stored."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    assert pool is not None
    try:
        _, token = await create_key(pool, "edge", ["ingest"])
        ingest = Server(_settings(url, require_keys=True), pool)
        client = _Client(await ingest.url(), token, f"o{uuid.uuid4().hex[:8]}")
        sending = asyncio.create_task(client.run())
        try:
            await _sent_at_least(client, 2)  # traffic flows before the outage
            await server.stop("fast")
            await asyncio.sleep(2.0)
            await server.start(url)
            await _sent_at_least(client, len(client.sent) + 2)  # and after it
        finally:
            client.stop.set()
            await asyncio.wait_for(sending, 60)
            await ingest.close()
        rows = await pool.fetch(
            "SELECT event_id::text FROM plate_events WHERE camera_id = $1", client.camera
        )
    finally:
        await asyncio.wait_for(pool.close(), 30)
    return client, [row["event_id"] for row in rows]
