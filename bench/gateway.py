"""Gateway latency and throughput beside the naive designs, in one run.

Loads N synthetic reads over D days (C cameras on S sites) through the
ingestor's write path into a fresh database, starts `python -m gateway`, and
measures p50/p99 and requests/s at a concurrency of 32 for: `event`,
`events` by plate, by camera + day, a page of 100 with nested camera and
plate, `stats`, and the REST endpoints. Beside them, in the same run: the
storage-layer document's COUNT(DISTINCT ...) stats query and OFFSET
pagination at depth 10,000 (against our keyset page at the same depth).
Last, live fan-out: W websocket subscribers (each filtering one camera)
while reads are stored at R per second; p50/p99 from the write to delivery.

    .venv/bin/python bench/gateway.py --reads 100000 --duration 3 --subscribers 100

Before/after on the same data, scenario by scenario: `--baseline DIR` also
starts the gateway of another checkout (this venv) and times it beside:

    git worktree add /tmp/gw-base <commit>
    .venv/bin/python bench/gateway.py --reads 500000 --subscribers 0 --baseline /tmp/gw-base
    .venv/bin/python bench/gateway.py --reads 10000000 --duration 20 --subscribers 1000

PostgreSQL: --database-url (a superuser URL; a database is created and
dropped per run unless --keep) or an embedded server. `--existing URL` times
again on a database a --keep run loaded, without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import migrate
from gateway.queries import QUERIES as G
from gateway.queries import filter_params
from ingestor.writer import write_batch
from schema.events import PlateEvent
from schema.filters import EventQuery
from sql import load_queries

Q = load_queries("gateway_bench")
TYPES = ["car", "truck", "van", "suv", "bus", "motorcycle"]
COLORS = ["silver", "black", "white", "red", "blue", "grey"]
MAKES = ["Toyota", "Ford", "VW", "Honda", "BMW", "Tesla"]

EVENT = "query($id: ID!) { event(id: $id) { id capturedAt cameraId plateText plateConfidence } }"
BY_PLATE = """query($p: String) { events(filter: {plate: $p}, first: 20) {
  edges { cursor node { id capturedAt cameraId plateText } } pageInfo { hasNextPage } } }"""
BY_CAMERA_DAY = """query($c: String, $s: DateTime, $u: DateTime) {
  events(filter: {cameraId: $c, since: $s, until: $u}, first: 20) {
  edges { cursor node { id capturedAt plateText } } pageInfo { hasNextPage } } }"""
NESTED_100 = """query($site: String) { events(filter: {siteId: $site}, first: 100) {
  edges { node { id capturedAt plateText camera { id siteId lastSeen }
  plate { text readCount lastSeen } } } } }"""
STATS = """{ stats { totalReads uniquePlates activeCameras avgConfidence avgLatencyMs
  readsPerHour { hour reads } } }"""
# The same over a window (unique plates: the OR of the window's day bitmaps),
# without unique plates, and for one site.
STATS_DAY = """query($since: DateTime) { stats(since: $since) { totalReads uniquePlates
  activeCameras avgConfidence avgLatencyMs readsPerHour { hour reads } } }"""
STATS_DAY_TOTALS = """query($since: DateTime) { stats(since: $since) { totalReads
  activeCameras avgConfidence avgLatencyMs readsPerHour { hour reads } } }"""
STATS_SITE = """query($site: String) { stats(siteId: $site) { totalReads uniquePlates
  activeCameras avgConfidence avgLatencyMs readsPerHour { hour reads } } }"""
LIVE = "subscription($c: String) { plateDetected(filter: {cameraId: $c}) { id capturedAt } }"
# Per websocket protocol: the message that subscribes, the one that carries a result.
PROTOCOL_MESSAGES = {"graphql-transport-ws": ("subscribe", "next"), "graphql-ws": ("start", "data")}


# ---------------------------------------------------------------- database


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def fresh_database(admin_url: str) -> str:
    name = f"alpr_bench_gw_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = _with_db(admin_url, name)
    await migrate(url, "auto")
    return url


async def drop_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        name = urlsplit(url).path.lstrip("/")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def synthetic(i: int, args: argparse.Namespace, rng: random.Random, end: datetime) -> PlateEvent:
    camera = rng.randrange(args.cameras)
    # A few busy plates and a long tail, as on real roads.
    plate = (
        int(rng.paretovariate(1.2)) % args.plates
        if rng.random() < 0.3
        else rng.randrange(args.plates)
    )
    at = end - timedelta(seconds=rng.random() * args.days * 86400)
    return PlateEvent(
        event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        captured_at=at,
        camera_id=f"cam-{camera:03d}",
        track_id=f"t-{i}",
        plate_text=f"B{plate:07d}",
        plate_confidence=0.5 + rng.random() / 2,
        plate_region="US-FL",
        vehicle_type=rng.choice(TYPES),
        vehicle_make=rng.choice(MAKES),
        vehicle_color=rng.choice(COLORS),
        plate_image_url=f"https://img.example/{i}/p.jpg",
        latency_ms=rng.randrange(20, 120),
        site_id=f"site-{camera % args.sites:02d}",
        direction=rng.choice(["inbound", "outbound"]),
    )


async def load(url: str, args: argparse.Namespace) -> float:
    """Store the reads through the writer, a batch of 5,000 at a time, 2 writers."""
    rng = random.Random(7)
    end = datetime.now(UTC)
    started = time.perf_counter()
    pool = await asyncpg.create_pool(url, min_size=2, max_size=2)
    assert pool is not None
    days = [(end - timedelta(days=d)).date() for d in range(args.days + 2)]
    await pool.fetchval(*Q["ensure_days"].bind(days=days))
    queue: asyncio.Queue[list[PlateEvent] | None] = asyncio.Queue(maxsize=4)

    async def writer() -> None:
        async with pool.acquire() as conn:
            while (batch := await queue.get()) is not None:
                await write_batch(conn, batch)

    writers = [asyncio.create_task(writer()) for _ in range(2)]
    for start in range(0, args.reads, 5000):
        size = min(5000, args.reads - start)
        await queue.put([synthetic(start + k, args, rng, end) for k in range(size)])
        if start and start % 500_000 == 0:
            print(f"  loaded {start:,}", flush=True)
    for _ in writers:
        await queue.put(None)
    await asyncio.gather(*writers)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE")
    await pool.close()
    return time.perf_counter() - started


# ---------------------------------------------------------------- load


def figures(latencies: list[float], seconds: float) -> str:
    if not latencies:
        return "no requests"
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {len(ordered) / seconds:8.1f} req/s"


async def hammer(
    call: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> tuple[list[float], float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def alternate(
    calls: list[Callable[[], Awaitable[None]]], seconds: float
) -> list[tuple[list[float], float]]:
    """One request at a time, taking turns between `calls` (this gateway and
    the baseline's): both meet the same machine, whatever else runs on it.
    Per call: its latencies and the seconds they add up to."""
    latencies: list[list[float]] = [[] for _ in calls]
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for call, own in zip(calls, latencies, strict=True):
            t = time.perf_counter()
            await call()
            own.append(time.perf_counter() - t)
    return [(own, sum(own)) for own in latencies]


def graphql(
    client: httpx.AsyncClient, query: str, variables: Callable[[], dict[str, Any]]
) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        response = await client.post("/graphql", json={"query": query, "variables": variables()})
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])

    return call


def rest(
    client: httpx.AsyncClient,
    path: Callable[[], str],
    params: Callable[[], dict[str, Any]] = dict,
) -> Callable[[], Awaitable[None]]:
    """A GET of `path` with `params`. The query goes in `params` only: httpx
    replaces a query written into the path with `params`, even an empty one."""

    async def call() -> None:
        url = path()
        if "?" in url:
            raise ValueError(f"{url}: give the query in params")
        response = await client.get(url, params=params())
        response.raise_for_status()

    return call


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_gateway(
    url: str, port: int, workers: int, checkout: Path | None = None
) -> subprocess.Popen[bytes]:
    """`python -m gateway` from this checkout, or from `checkout` (its code, this venv)."""
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": url,
        "ALPR_GATEWAY_PORT": str(port),
        "ALPR_REQUIRE_KEYS": "false",
        "ALPR_DB_POOL_MAX": "16",
        "ALPR_SUBSCRIPTION_BUFFER": "10000",
        "ALPR_LOG_LEVEL": "WARNING",
        "ALPR_GATEWAY_WORKERS": str(workers),
    }
    # The gateway's warnings and errors, for a run that goes wrong.
    log = Path(tempfile.gettempdir()) / f"alpr-bench-gateway-{port}.log"
    print(f"  gateway log: {log}")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"], env=env, stderr=sink, cwd=checkout
        )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(200):
            try:
                if (await client.get("/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not become ready")


async def compare_paging(pool: asyncpg.Pool[Any], depth: int, seconds: float) -> None:
    """A page of 20 at `depth`: OFFSET against keyset, one query at a time."""
    position = await pool.fetchrow(*Q["keyset_position"].bind(depth=depth))
    assert position is not None
    keyset, filters = G["events_page"], filter_params(EventQuery())

    async def offset_page() -> None:
        await pool.fetch(*Q["naive_offset_page"].bind(offset=depth, limit=20))

    async def keyset_page() -> None:
        at, event_id = position["captured_at"], position["event_id"]
        await pool.fetch(
            *keyset.bind(
                **filters, cursor_at=at, cursor_id=event_id, limit=21, backward=False, offset=0
            )
        )

    off, off_s = await hammer(offset_page, 1, seconds)
    key, key_s = await hammer(keyset_page, 1, seconds)
    print(f"  page of 20 at depth {depth:>7,}: OFFSET {figures(off, off_s)}")
    print(f"  page of 20 at depth {depth:>7,}: keyset {figures(key, key_s)}")
    ratio = statistics.median(off) / statistics.median(key)
    print(f"  keyset vs OFFSET at depth {depth:,} (median latency): {ratio:.1f}x")


class Target:
    """A running gateway the queries are timed against."""

    def __init__(self, label: str, base: str, process: subprocess.Popen[bytes]) -> None:
        self.label = label
        self.base = base
        self.pid = process.pid


async def query_benchmarks(url: str, targets: list[Target], args: argparse.Namespace) -> None:
    """Each scenario alone (one request at a time) and at `--concurrency`, on
    each target in turn (this checkout, then `--baseline`'s), same data."""
    # Plans as the gateway makes them (gateway/app.py): generic.
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=args.concurrency,
        server_settings={"plan_cache_mode": "force_generic_plan"},
    )
    assert pool is not None
    events = await pool.fetch(*Q["sample_events"].bind(limit=2000))
    plates = [r[0] for r in await pool.fetch(*Q["sample_plates"].bind(limit=2000))]
    cams = await pool.fetch(*Q["cameras_and_sites"].bind())
    cameras = [r["camera_id"] for r in cams]
    sites = sorted({r["site_id"] for r in cams})
    now = datetime.now(UTC)

    def day() -> dict[str, Any]:
        start = now - timedelta(days=random.randrange(args.days))
        return {
            "c": random.choice(cameras),
            "s": start.isoformat(),
            "u": (start + timedelta(days=1)).isoformat(),
        }

    def last_day() -> dict[str, Any]:
        return {"since": (now - timedelta(hours=24)).isoformat()}

    def last_month() -> dict[str, Any]:
        return {"since": (now - timedelta(days=30)).isoformat()}

    def camera_path() -> str:
        return f"/events/camera/{random.choice(cameras)}"

    def camera_params() -> dict[str, Any]:
        window = day()
        return {"start_time": window["s"], "end_time": window["u"], "limit": 20}

    def scenarios(client: httpx.AsyncClient) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            (
                "event",
                graphql(client, EVENT, lambda: {"id": str(random.choice(events)["event_id"])}),
            ),
            (
                "events by plate (20)",
                graphql(client, BY_PLATE, lambda: {"p": random.choice(plates)}),
            ),
            ("events by camera + day (20)", graphql(client, BY_CAMERA_DAY, day)),
            (
                "page of 100, nested camera+plate",
                graphql(client, NESTED_100, lambda: {"site": random.choice(sites)}),
            ),
            ("stats", graphql(client, STATS, dict)),
            ("stats, last 24 h", graphql(client, STATS_DAY, last_day)),
            ("stats, last 24 h, no uniquePlates", graphql(client, STATS_DAY_TOTALS, last_day)),
            ("stats, last 30 days", graphql(client, STATS_DAY, last_month)),
            (
                "stats, one site",
                graphql(client, STATS_SITE, lambda: {"site": random.choice(sites)}),
            ),
            (
                "REST /events/{id}",
                rest(client, lambda: f"/events/{random.choice(events)['event_id']}"),
            ),
            (
                "REST /events/plate/{p}",
                rest(
                    client,
                    lambda: f"/events/plate/{random.choice(plates)}",
                    lambda: {"limit": 20},
                ),
            ),
            ("REST /events/camera/{c}", rest(client, camera_path, camera_params)),
            ("REST /events/recent", rest(client, lambda: "/events/recent", lambda: {"limit": 20})),
            ("REST /stats", rest(client, lambda: "/stats")),
        ]

    # Idle connections expire before uvicorn's 5 s keep-alive closes them,
    # or a reused one fails with ReadError.
    limits = httpx.Limits(
        max_connections=args.concurrency,
        max_keepalive_connections=args.concurrency,
        keepalive_expiry=2.0,
    )
    clients = [
        httpx.AsyncClient(base_url=target.base, limits=limits, timeout=60) for target in targets
    ]
    print(
        f"\nqueries, {args.duration:g} s each: alone (concurrency 1, taking turns with the "
        f"baseline if any; the gateway's CPU per request beside), then at concurrency "
        f"{args.concurrency}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    try:
        per_target = [scenarios(client) for client in clients]
        for i, (name, _) in enumerate(per_target[0]):
            calls = [scenario[i][1] for scenario in per_target]
            for call in calls:
                await call()  # warm
            cpus = [cpu_seconds(target.pid) for target in targets]
            alone = await alternate(calls, args.duration * len(calls))
            for target, cpu, (latencies, busy) in zip(targets, cpus, alone, strict=True):
                cpu_ms = (cpu_seconds(target.pid) - cpu) / max(1, len(latencies)) * 1000
                label = f"{name} [{target.label}]" if len(targets) > 1 else name
                print(f"  {label:44s} alone {figures(latencies, busy)}  CPU {cpu_ms:5.2f} ms")
            for target, call in zip(targets, calls, strict=True):
                latencies, seconds = await hammer(call, args.concurrency, args.duration)
                label = f"[{target.label}]" if len(targets) > 1 else ""
                print(f"  {label:>44s} x{args.concurrency:<4d} {figures(latencies, seconds)}")
    finally:
        for client in clients:
            await client.aclose()
    print(f"  load average after the queries: {os.getloadavg()[0]:.1f}")

    print("\nbeside, the naive designs (SQL straight to PostgreSQL, same data)")
    naive_runs = max(1, min(5, int(args.duration)))
    naive: list[float] = []
    for _ in range(naive_runs):
        t = time.perf_counter()
        await pool.fetchrow(*Q["naive_stats"].bind())
        naive.append(time.perf_counter() - t)
    ours: list[float] = []
    for _ in range(50):
        t = time.perf_counter()
        await pool.fetchrow(*G["storage_stats"].bind())
        ours.append(time.perf_counter() - t)
    n, o = statistics.median(naive), statistics.median(ours)
    print(f"  stats: document's COUNT(DISTINCT) view  median {n * 1000:9.2f} ms")
    print(
        f"  stats: rollups (camera_daily, plates)   median {o * 1000:9.2f} ms   ratio {n / o:8.1f}x"
    )

    for depth in (10_000, 100_000):
        if depth + 100 > args.reads:
            continue
        await compare_paging(pool, depth, args.duration)
    await pool.close()


# ---------------------------------------------------------------- live


async def subscribers_child(args: argparse.Namespace) -> None:
    """One client process: `--child-count` subscribers, then deliveries and CPU as JSON."""
    cameras = [f"live-{i:03d}" for i in range(args.cameras)]
    received: list[tuple[float, float]] = []  # (capturedAt, received at), epoch seconds

    protocols = args.protocols.split(",")

    async def subscriber(i: int, ready: asyncio.Event) -> None:
        protocol = protocols[i % len(protocols)]
        start, result = PROTOCOL_MESSAGES[protocol]
        async with connect(
            args.child_ws,
            subprotocols=[protocol],  # type: ignore[list-item]
            max_size=None,
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            payload = {"query": LIVE, "variables": {"c": cameras[i % len(cameras)]}}
            await ws.send(json.dumps({"id": "1", "type": start, "payload": payload}))
            ready.set()
            # Plain receives, cancelled at the end: a timeout per receive
            # (a task each) cost the clients more CPU than the gateway spent.
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == result:
                    event = message["payload"]["data"]["plateDetected"]
                    at = datetime.fromisoformat(event["capturedAt"])
                    received.append((at.timestamp(), time.time()))

    first = args.child_from
    readies = [asyncio.Event() for _ in range(args.child_count)]
    tasks = []
    for k, ready in enumerate(readies):
        tasks.append(asyncio.create_task(subscriber(first + k, ready)))
        if k % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.gather(*(r.wait() for r in readies))
    print("READY", flush=True)
    cpu = time.process_time()
    await asyncio.sleep(args.child_seconds)
    cpu = time.process_time() - cpu
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"received": received, "cpu_s": cpu}), flush=True)


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its children (the gateway's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


async def store_at_rate(
    url: str, args: argparse.Namespace, cameras: list[str]
) -> tuple[int, dict[float, float], float]:
    """Store reads at `--rate` per second, in ten batches a second.

    Returns how many were stored, when each batch was committed by its reads'
    capturedAt (one per batch; epoch seconds), and the seconds it took.

    A batch that took longer than its tenth of a second is made up by the next
    one, so a busy machine still gets the rate asked for, in larger batches.
    """
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    rng = random.Random(11)
    sent = 0
    committed: dict[float, float] = {}
    template = synthetic(0, args, rng, datetime.now(UTC))
    started = time.perf_counter()
    deadline = started + args.duration
    async with pool.acquire() as conn:
        while (tick := time.perf_counter()) < deadline:
            due = int(args.rate * (tick - started + 0.1))
            now = datetime.now(UTC)
            batch = [
                template.model_copy(
                    update={
                        "event_id": uuid.uuid4(),
                        "camera_id": rng.choice(cameras),
                        "captured_at": now,
                    }
                )
                for _ in range(max(1, due - sent))
            ]
            await write_batch(conn, batch)
            committed[now.timestamp()] = time.time()
            sent += len(batch)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return sent, committed, elapsed


async def live_benchmark(url: str, base: str, gateway_pid: int, args: argparse.Namespace) -> None:
    """Subscribers in `--client-processes` processes (so the clients are not the
    bottleneck), reads stored here at `--rate`; latency from write to delivery,
    and the CPU the gateway and the clients spent meanwhile."""
    cameras = [f"live-{i:03d}" for i in range(args.cameras)]
    ws_url = base.replace("http://", "ws://") + "/graphql"
    per_child = -(-args.subscribers // args.client_processes)
    listen = args.duration + 6
    children = []
    for first in range(0, args.subscribers, per_child):
        count = min(per_child, args.subscribers - first)
        children.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--cameras",
                str(args.cameras),
                "--child-ws",
                ws_url,
                "--child-from",
                str(first),
                "--child-count",
                str(count),
                "--child-seconds",
                str(listen),
                "--protocols",
                args.protocols,
                stdout=asyncio.subprocess.PIPE,
            )
        )
    for child in children:
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"READY"
    await asyncio.sleep(1)

    load_before = os.getloadavg()[0]
    gateway_cpu = cpu_seconds(gateway_pid)
    started = time.perf_counter()
    sent, committed, elapsed = await store_at_rate(url, args, cameras)
    load_after = os.getloadavg()[0]
    received: list[tuple[float, float]] = []
    client_cpu = 0.0
    for child in children:
        out, _ = await child.communicate()
        result = json.loads(out.decode().strip().splitlines()[-1])
        received.extend(result["received"])
        client_cpu += result["cpu_s"]
    # Until the clients stop listening: deliveries that lag the writes count.
    gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
    window = time.perf_counter() - started
    expected = sent * args.subscribers / len(cameras)
    latencies = [at - captured for captured, at in received]
    # The gateway's part: from the commit (its NOTIFY) to delivery.
    fan_out = [at - committed[captured] for captured, at in received if captured in committed]
    writes = [done - captured for captured, done in committed.items()]
    print(
        f"\nlive: {args.subscribers} subscribers (one camera each of {len(cameras)}; "
        f"{args.protocols}) in {len(children)} client processes, "
        f"{sent / elapsed:.0f} stored reads/s for {elapsed:.1f} s, gateway workers {args.workers}"
    )
    summary = figures(latencies, 1)[:34]
    print(
        f"  delivered {len(latencies):,} of {expected:,.0f} expected  write -> delivery {summary}"
    )
    print(f"  of which: capturedAt -> committed {figures(writes, 1)[:34]}")
    print(f"            committed -> delivered  {figures(fan_out, 1)[:34]}")
    per_read = gateway_cpu / max(1, len(latencies)) * 1e6
    print(
        f"  gateway CPU {gateway_cpu:.1f} s over {window:.0f} s ({per_read:.0f} us per "
        f"delivered read); clients {client_cpu:.1f} s over {listen:.0f} s; "
        f"load average {load_before:.1f} -> {load_after:.1f}"
    )


async def main(args: argparse.Namespace) -> None:
    tmp = None
    admin = args.database_url
    if admin is None:
        from core.embedded import server_uri, start_server

        tmp = tempfile.TemporaryDirectory(prefix="alpr-bench-gw-")
        server = start_server(Path(tmp.name))
        admin = server_uri(server, "postgres")
    url = args.existing or await fresh_database(admin)
    try:
        if not args.existing:
            print(
                f"loading {args.reads:,} reads over {args.days} days, "
                f"{args.cameras} cameras, {args.sites} sites"
            )
            seconds = await load(url, args)
            print(
                f"  loaded in {seconds:.1f} s "
                f"({args.reads / seconds:,.0f} reads/s through the writer)"
            )
        port = free_port()
        gateway = await start_gateway(url, port, args.workers)
        baseline = None
        try:
            base = f"http://127.0.0.1:{port}"
            if not args.live_only:
                targets = [Target("this", base, gateway)]
                if args.baseline is not None:
                    other = free_port()
                    baseline = await start_gateway(url, other, args.workers, args.baseline)
                    targets.append(Target("baseline", f"http://127.0.0.1:{other}", baseline))
                await query_benchmarks(url, targets, args)
            if baseline is not None:
                baseline.terminate()
                baseline.wait(30)
                baseline = None
            if args.subscribers:
                await live_benchmark(url, base, gateway.pid, args)
        finally:
            for process in (gateway, baseline):
                if process is not None:
                    process.terminate()
                    process.wait(30)
    finally:
        if args.keep or args.existing:
            print(f"kept {url}")
        else:
            await drop_database(admin, url)
        if tmp is not None:
            server.cleanup()
            tmp.cleanup()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--plates", type=int, default=0, help="distinct plates (default reads/8)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000, help="stored reads/s for the live run")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--protocols",
        default="graphql-transport-ws,graphql-ws",
        help="websocket protocols of the live subscribers, taken in turn",
    )
    parser.add_argument("--live-only", action="store_true", help="skip the query benchmarks")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the loaded database (with --database-url) for --existing runs",
    )
    parser.add_argument(
        "--existing",
        default=None,
        help="URL of a database a --keep run loaded, with the same --reads/--days/--cameras/"
        "--sites/--plates: no loading (10 M reads take ~30 min to load)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another checkout (e.g. `git worktree add /tmp/base HEAD~3`): its gateway's "
        "queries are timed beside this one's, scenario by scenario, on the same data",
    )
    # Internal: a subscriber client process of the live benchmark.
    parser.add_argument("--child-ws", help=argparse.SUPPRESS)
    parser.add_argument("--child-from", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child-seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.plates = args.plates or max(10, args.reads // 8)
    if args.keep and args.database_url is None:
        parser.error("--keep needs --database-url: the embedded server is removed at exit")
    return args


if __name__ == "__main__":
    arguments = parse()
    asyncio.run(subscribers_child(arguments) if arguments.child_ws else main(arguments))
