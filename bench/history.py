"""A year of history: every query of bench/gateway.py through the gateway's
HTTP API on an uncompressed, a compressed and a plain-PostgreSQL year, in
one run.

Builds (or with --reuse reuses, after `alpr migrate`'s migrations) three
databases holding the same kind of year, generated in SQL
(bench/history_data.py: the reads and every table the writer keeps beside
them):

  ts    TimescaleDB (--database-url, a superuser URL), the compression job
        unscheduled, nothing compressed
  tsz   a copy of ts with every chunk older than 7 days compressed
        (compress_chunk), as the default policy leaves a year, and the
        plate-ordered copy filled as the ingestor fills it
  pg    plain PostgreSQL, a partition a day: the embedded server (PG18),
        its data kept in --pg-dir

Then starts `python -m gateway` (uvicorn, one worker) on each and sends
bench/gateway.py's GraphQL and REST requests for --samples random plates,
ids, (camera, day) pairs and sites, one request at a time, the databases
taking turns request by request so each meets the same machine. Two
passes, each with its own samples: the first on gateways just started
(each of their connections reads a chunk's catalog entries the first time
it touches that chunk), the second on the same gateways, warm. p50/p99 in ms
and each pass's first request of each query, compressed / uncompressed,
bytes per read, load average.

    TS=postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/history.py --database-url $TS --reads 5000000 --days 365
    .venv/bin/python bench/history.py --database-url $TS --reuse

`--chunks 30,365,1000` instead builds sparse histories of that many days
(--chunk-reads a day) on both engines and times the gateway's read functions
(gateway.queries, on a pool set up as the gateway's) per chunk count, in two
passes on the same connections (the second warm), with the planning time of
each statement planned ad hoc (EXPLAIN (ANALYZE, SUMMARY)), to show what
grows with the chunks.

`--existing URL` (repeatable) times databases built before (e.g. by
bench/dashboard.py), named by their engine (pg, ts), and builds nothing.
`--explain` prints, for a few samples, EXPLAIN (ANALYZE, SUMMARY)'s planning
and execution time of the plate page and the read by id (the gateway's
statement, the statements its functions run, and the statements replaced)
and the partitions each plan keeps. `--first N` times the first read of
each kind on N connections opened as the gateway opens them
(gateway.app._connect), against the second on the same connection.

    .venv/bin/python bench/history.py --existing $PG10M --samples 200 --replaced --explain --first 5

Not a test: figures go to bench/README.md ("A year of history").
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from history_data import generate  # noqa: E402

from core.embedded import server_uri, start_server  # noqa: E402
from core.migrate import migrate  # noqa: E402
from core.settings import GatewaySettings  # noqa: E402
from gateway import queries  # noqa: E402
from gateway.app import _connect  # noqa: E402
from schema.filters import EventQuery  # noqa: E402
from schema.paging import PageRequest  # noqa: E402
from sql import Query  # noqa: E402

# The gateway's session (gateway/app.py): generic plans, no JIT.
SESSION = {"plan_cache_mode": "force_generic_plan", "jit": "off"}
COLUMNS = """event_id, captured_at, camera_id, track_id, plate_text, plate_normalized_text,
    plate_confidence, plate_region, vehicle_type, vehicle_make, vehicle_model, vehicle_color,
    plate_image_url, vehicle_image_url, frame_image_url, latency_ms, quality_score,
    frame_number, site_id, host_id, roi, direction, created_at"""
# The statements replaced: a keyset scan of plate_events by plate (the events
# page led by the plate), and a read by id probing every partition for the
# time event_ids gives.
REPLACED_BY_ID = f"""SELECT {COLUMNS} FROM plate_events
WHERE event_id = $1 AND captured_at = (SELECT captured_at FROM event_ids WHERE event_id = $1)"""

# The live feed's fetch of a batch by its keys, as it was: one join of the
# keys with plate_events, which on TimescaleDB probed every chunk per key.
REPLACED_BY_KEYS = f"""SELECT {COLUMNS}
FROM unnest($1::uuid[], $2::timestamptz[]) AS k(event_id, captured_at)
JOIN plate_events USING (event_id, captured_at)
ORDER BY captured_at, event_id"""
LIVE_BATCH = 100  # reads in a live batch sample: consecutive, the newest
# A regular plate: read on at least this many days, so a page of 20 of its
# reads walks about 20 days (about 2 % of a year's plates, a third of its
# plate-days). Random plates are mostly the long tail (one or two days), so
# the regulars are timed apart or their pages would not reach the p99.
REGULAR_DAYS = 20


def replaced_page(lead: str | None) -> Query:
    """The events page the day walk replaced, led by `lead` (a column equal
    to its parameter) or by none: one keyset scan of plate_events."""
    keys = [("plate", "plate_normalized_text"), ("camera_id", "camera_id"), ("site_id", "site_id")]
    conditions = [f"{c} = :{f}" for f, c in keys if f == lead] + [
        f"(:{f}::text IS NULL OR {c} = :{f})" for f, c in keys if f != lead
    ]
    where = "\n  AND ".join(conditions)
    return Query.parse(
        f"""SELECT {COLUMNS} FROM plate_events
        WHERE {where}
          AND captured_at >= COALESCE(:since::timestamptz, '-infinity')
          AND captured_at < COALESCE(:until::timestamptz, 'infinity')
          AND (:direction::text IS NULL OR lower(direction) = :direction)
          AND (:vehicle_make::text IS NULL OR lower(vehicle_make) = lower(:vehicle_make))
          AND (:vehicle_color::text IS NULL OR lower(vehicle_color) = lower(:vehicle_color))
          AND (:vehicle_type::text IS NULL OR lower(vehicle_type) = :vehicle_type)
          AND plate_confidence >= COALESCE(:min_confidence::float8, 0)
          AND captured_at <= COALESCE(:cursor_at::timestamptz, 'infinity')
          AND (captured_at, event_id) < (
              COALESCE(:cursor_at::timestamptz, 'infinity'),
              COALESCE(:cursor_id::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
        ORDER BY captured_at DESC, event_id DESC
        LIMIT :limit"""
    )


REPLACED = {lead: replaced_page(lead) for lead in ("plate", "camera_id", None)}


async def _replaced(pool: Any, lead: str | None, query: EventQuery, limit: int) -> Any:
    params = queries.filter_params(query)
    return await pool.fetch(
        *REPLACED[lead].bind(**params, cursor_at=None, cursor_id=None, limit=limit + 1)
    )


# ---------------------------------------------------------------- databases


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def build(admin_url: str, name: str, engine: str, reads: int, days: int) -> str:
    await admin(
        admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )
    url = with_db(admin_url, name)
    await migrate(url, engine)  # type: ignore[arg-type]
    conn = await asyncpg.connect(url)
    try:
        if engine == "timescaledb":
            await conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
                "WHERE proc_name = 'policy_compression'"
            )
        seconds = await generate(conn, reads, days)
    finally:
        await conn.close()
    print(f"  {name}: {reads:,} reads over {days} days in {seconds:.0f} s", flush=True)
    return url


async def compressed_copy(admin_url: str, source: str, name: str) -> str:
    """A copy of `source` with every chunk older than 7 days compressed."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'ALTER DATABASE "{source}" WITH ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", source
        )
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        await conn.execute(f'ALTER DATABASE "{source}" WITH ALLOW_CONNECTIONS true')
        await conn.close()
    url = with_db(admin_url, name)
    started = time.perf_counter()
    await admin(
        url,
        "SELECT count(compress_chunk(c)) FROM show_chunks('plate_events', "
        "older_than => now() - INTERVAL '7 days') AS c",
    )
    print(f"  {name}: compressed in {time.perf_counter() - started:.0f} s", flush=True)
    await fill_copy(url)
    await admin(url, "VACUUM ANALYZE")
    return url


async def fill_copy(url: str) -> None:
    """Fill the plate-ordered copy of the compressed days as the ingestor does
    (a range a call) until no range is ready; nothing on plain PostgreSQL."""
    conn = await asyncpg.connect(url)
    try:
        started, ranges, reads = time.perf_counter(), 0, 0
        while (copied := await conn.fetchval("SELECT alpr_fill_plate_copy()")) is not None:
            ranges, reads = ranges + 1, reads + copied
    finally:
        await conn.close()
    if ranges:
        took = time.perf_counter() - started
        print(f"  plate copy: {ranges} ranges, {reads:,} reads in {took:.0f} s", flush=True)


async def storage(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        engine = await conn.fetchval("SELECT engine FROM alpr_engine")
        reads = await conn.fetchval("SELECT count(*) FROM event_ids")
        row: Any
        if engine == "timescaledb":
            row = await conn.fetchrow(
                "SELECT hypertable_size('plate_events'), count(*), "
                "count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks "
                "WHERE hypertable_name = 'plate_events'"
            )
        else:
            row = await conn.fetchrow(
                "SELECT sum(pg_total_relation_size(inhrelid))::bigint, count(*), 0 "
                "FROM pg_inherits WHERE inhparent = 'plate_events'::regclass"
            )
        size, chunks, compressed = row
        copy = await conn.fetchrow("SELECT copy_bytes, copy_reads FROM alpr_plate_copy_facts()")
    finally:
        await conn.close()
    copied = (
        f"; plate copy {copy['copy_reads']:,} reads, {copy['copy_bytes'] / 2**20:,.0f} MiB, "
        f"{copy['copy_bytes'] / copy['copy_reads']:,.0f} bytes/read"
        if copy["copy_reads"]
        else ""
    )
    return (
        f"{engine}: {reads:,} reads, {chunks} partitions ({compressed} compressed), "
        f"{size / 2**20:,.0f} MiB, {size / max(reads, 1):,.0f} bytes/read{copied}"
    )


# ---------------------------------------------------------------- timing

Read = Callable[[Any, Any], Awaitable[Any]]


async def _by_plate(pool: asyncpg.Pool[Any], plate: str) -> Any:
    return await queries.fetch_events(pool, EventQuery(plate=plate), PageRequest(20))


async def _by_plate_replaced(pool: asyncpg.Pool[Any], plate: str) -> Any:
    return await _replaced(pool, "plate", EventQuery(plate=plate), 20)


async def _by_id(pool: asyncpg.Pool[Any], event_id: Any) -> Any:
    return await queries.fetch_event(pool, event_id)


async def _by_id_replaced(pool: asyncpg.Pool[Any], event_id: Any) -> Any:
    return await pool.fetch(REPLACED_BY_ID, event_id)


async def _camera_day(pool: asyncpg.Pool[Any], sample: tuple[str, datetime]) -> Any:
    camera, day = sample
    query = EventQuery(camera_id=camera, since=day, until=day + timedelta(days=1))
    return await queries.fetch_events(pool, query, PageRequest(20))


async def _camera_day_replaced(pool: asyncpg.Pool[Any], sample: tuple[str, datetime]) -> Any:
    camera, day = sample
    query = EventQuery(camera_id=camera, since=day, until=day + timedelta(days=1))
    return await _replaced(pool, "camera_id", query, 20)


async def _site(pool: asyncpg.Pool[Any], site: str) -> Any:
    return await queries.fetch_events(pool, EventQuery(site_id=site), PageRequest(20))


async def _recent(pool: asyncpg.Pool[Any], _: Any) -> Any:
    return await queries.fetch_events(pool, EventQuery(), PageRequest(100))


async def _recent_replaced(pool: asyncpg.Pool[Any], _: Any) -> Any:
    return await _replaced(pool, None, EventQuery(), 100)


async def _live_batch(pool: asyncpg.Pool[Any], keys: tuple[list[Any], list[Any]]) -> Any:
    return await queries.fetch_events_by_keys(pool, *keys)


async def _live_batch_replaced(pool: asyncpg.Pool[Any], keys: tuple[list[Any], list[Any]]) -> Any:
    return await pool.fetch(REPLACED_BY_KEYS, *keys)


async def _stats(pool: asyncpg.Pool[Any], _: Any) -> Any:
    since = datetime.now(UTC) - timedelta(days=1)
    return await queries.fetch_stats(pool, since, None, None, None)


READS: dict[str, tuple[Read, str]] = {
    "by plate (20)": (_by_plate, "plate"),
    "by plate, replaced": (_by_plate_replaced, "plate"),
    "by plate, regular (20)": (_by_plate, "regular"),
    "by id": (_by_id, "id"),
    "by id, replaced": (_by_id_replaced, "id"),
    "camera, 1 day (20)": (_camera_day, "camera"),
    "camera, replaced": (_camera_day_replaced, "camera"),
    "site (20)": (_site, "site"),
    "recent 100": (_recent, "none"),
    "recent, replaced": (_recent_replaced, "none"),
    f"live batch ({LIVE_BATCH})": (_live_batch, "batch"),
    "live batch, replaced": (_live_batch_replaced, "batch"),
    "stats, 1 day": (_stats, "none"),
}
# Each read and the statement it replaced.
REPLACES = {
    "by plate (20)": "by plate, replaced",
    "by id": "by id, replaced",
    "camera, 1 day (20)": "camera, replaced",
    "recent 100": "recent, replaced",
    f"live batch ({LIVE_BATCH})": "live batch, replaced",
}


async def samples(url: str, count: int, seed: int) -> dict[str, list[Any]]:
    """Random plates, ids, (camera, day) pairs and sites of a database."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT setseed($1)", seed / 1000)
        plates = [
            r[0]
            for r in await conn.fetch(
                "SELECT plate_normalized_text FROM plates ORDER BY random() LIMIT $1", count
            )
        ]
        regulars = [
            r[0]
            for r in await conn.fetch(
                "SELECT plate_normalized_text FROM plate_days GROUP BY plate_normalized_text "
                "HAVING count(*) >= $2 ORDER BY random() LIMIT $1",
                count,
                REGULAR_DAYS,
            )
        ]
        ids = [
            r[0]
            for r in await conn.fetch(
                "SELECT event_id FROM event_ids ORDER BY random() LIMIT $1",
                count,
            )
        ]
        cameras = [
            (r[0], datetime.combine(r[1], datetime.min.time(), UTC))
            for r in await conn.fetch(
                "SELECT camera_id, day FROM camera_daily ORDER BY random() LIMIT $1", count
            )
        ]
        sites = [
            r[0]
            for r in await conn.fetch(
                "SELECT site_id FROM cameras WHERE site_id IS NOT NULL ORDER BY random() LIMIT $1",
                count,
            )
        ]
        newest = await conn.fetch(
            "SELECT event_id, captured_at FROM plate_events ORDER BY captured_at DESC LIMIT $1",
            count * LIVE_BATCH,
        )
    finally:
        await conn.close()
    sites = [sites[i % len(sites)] for i in range(count)]
    if not regulars:
        print(f"  no plate read on {REGULAR_DAYS} days: the regular rows time random plates")
    batches = [
        ([r[0] for r in newest[i : i + LIVE_BATCH]], [r[1] for r in newest[i : i + LIVE_BATCH]])
        for i in range(0, len(newest), LIVE_BATCH)
    ]
    return {
        "plate": plates,
        "regular": [regulars[i % len(regulars)] for i in range(count)] if regulars else plates,
        "id": ids,
        "camera": cameras,
        "site": sites,
        "batch": batches,
        "none": [None] * count,
    }


def chosen_reads(replaced: bool) -> dict[str, tuple[Read, str]]:
    """The reads to time: the gateway's, and with `replaced` the statements they replaced."""
    return {name: read for name, read in READS.items() if replaced or "replaced" not in name}


async def time_reads(
    urls: dict[str, str], count: int, seeds: list[int], reads: dict[str, tuple[Read, str]]
) -> list[dict[tuple[str, str], list[float]]]:
    """ms per read, by (read, database): every read and database in turn, per
    sample; a pass per seed (its own samples) on the same connections."""
    pools = {
        name: await asyncpg.create_pool(url, min_size=1, max_size=1, server_settings=SESSION)
        for name, url in urls.items()
    }
    passes = []
    try:
        for seed in seeds:
            picks = {name: await samples(url, count, seed) for name, url in urls.items()}
            timings: dict[tuple[str, str], list[float]] = {}
            for i in range(count):
                for read, (run, kind) in reads.items():
                    for name, pool in pools.items():
                        sample = picks[name][kind][i % len(picks[name][kind])]
                        started = time.perf_counter()
                        await run(pool, sample)
                        elapsed = (time.perf_counter() - started) * 1000
                        if i >= 3:  # the first requests prepare the statements
                            timings.setdefault((read, name), []).append(elapsed)
            passes.append(timings)
    finally:
        for pool in pools.values():
            await pool.close()
    return passes


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(timings: dict[tuple[str, str], list[float]], names: list[str]) -> None:
    timed = [read for read in READS if any((read, name) in timings for name in names)]
    print(f"\n{'p50 / p99 ms':<22}" + "".join(f"{n:>18}" for n in names))
    for read in timed:
        cells = []
        for name in names:
            values = timings.get((read, name), [])
            cells.append(
                f"{statistics.median(values):7.2f} / {_p(values, 0.99):6.2f}" if values else "-"
            )
        print(f"{read:<22}" + "".join(f"{c:>18}" for c in cells))
    if "ts" in names and "tsz" in names:
        print("\ncompressed / uncompressed (p99):")
        for read in timed:
            a, b = timings.get((read, "tsz")), timings.get((read, "ts"))
            if a and b:
                print(f"  {read:<22} {_p(a, 0.99) / _p(b, 0.99):5.2f}x")
    if not any(replaced in timed for replaced in REPLACES.values()):
        return
    print("\nreplaced / now (p50, p99):")
    for read, replaced in REPLACES.items():
        cells = []
        for name in names:
            new, old = timings.get((read, name)), timings.get((replaced, name))
            if new and old:
                p50 = statistics.median(old) / statistics.median(new)
                cells.append(f"{p50:5.1f}x {_p(old, 0.99) / _p(new, 0.99):5.1f}x")
        print(f"  {read:<20}" + "".join(f"{c:>18}" for c in cells))


# ---------------------------------------------------------------- through HTTP


def _bench_gateway() -> Any:
    """bench/gateway.py (its requests and its gateway starter), loaded under
    another name: `gateway` is the gateway's package."""
    spec = importlib.util.spec_from_file_location("bench_gateway", ROOT / "bench" / "gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BG = _bench_gateway()
Request = Callable[[httpx.AsyncClient, dict[str, Any], int], Awaitable[None]]


def _graphql(query: str, variables: Callable[[dict[str, Any], int], dict[str, Any]]) -> Request:
    async def send(client: httpx.AsyncClient, picks: dict[str, Any], i: int) -> None:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables(picks, i)}
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])

    return send


def _rest(
    path: Callable[[dict[str, Any], int], str],
    params: Callable[[dict[str, Any], int], dict[str, Any]] = lambda p, i: {},
) -> Request:
    """A GET of `path` with `params`. The query goes in `params` only: httpx
    replaces a query written into the path with `params`, even an empty one."""

    async def send(client: httpx.AsyncClient, picks: dict[str, Any], i: int) -> None:
        url = path(picks, i)
        if "?" in url:
            raise ValueError(f"{url}: give the query in params")
        response = await client.get(url, params=params(picks, i))
        response.raise_for_status()

    return send


def _limit_20(picks: dict[str, Any], i: int) -> dict[str, Any]:
    return {"limit": 20}


def _day(picks: dict[str, Any], i: int) -> dict[str, Any]:
    camera, day = picks["camera"][i]
    return {"c": camera, "s": day.isoformat(), "u": (day + timedelta(days=1)).isoformat()}


def _since(hours: int) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    return lambda p, i: {"since": (datetime.now(UTC) - timedelta(hours=hours)).isoformat()}


# bench/gateway.py's queries, each with this run's i-th sample.
REQUESTS: dict[str, Request] = {
    "event": _graphql(BG.EVENT, lambda p, i: {"id": str(p["id"][i])}),
    "events by plate (20)": _graphql(BG.BY_PLATE, lambda p, i: {"p": p["plate"][i]}),
    "events by plate, regular (20)": _graphql(BG.BY_PLATE, lambda p, i: {"p": p["regular"][i]}),
    "events by camera + day (20)": _graphql(BG.BY_CAMERA_DAY, _day),
    "page of 100, nested camera+plate": _graphql(
        BG.NESTED_100, lambda p, i: {"site": p["site"][i]}
    ),
    "stats": _graphql(BG.STATS, lambda p, i: {}),
    "stats, last 24 h": _graphql(BG.STATS_DAY, _since(24)),
    "stats, last 24 h, no uniquePlates": _graphql(BG.STATS_DAY_TOTALS, _since(24)),
    "stats, last 30 days": _graphql(BG.STATS_DAY, _since(24 * 30)),
    "stats, one site": _graphql(BG.STATS_SITE, lambda p, i: {"site": p["site"][i]}),
    "REST /events/{id}": _rest(lambda p, i: f"/events/{p['id'][i]}"),
    "REST /events/plate/{p}": _rest(lambda p, i: f"/events/plate/{p['plate'][i]}", _limit_20),
    "REST /events/plate/{p}, regular": _rest(
        lambda p, i: f"/events/plate/{p['regular'][i]}", _limit_20
    ),
    "REST /events/camera/{c}": _rest(
        lambda p, i: f"/events/camera/{p['camera'][i][0]}",
        lambda p, i: {"start_time": _day(p, i)["s"], "end_time": _day(p, i)["u"], "limit": 20},
    ),
    "REST /events/recent": _rest(lambda p, i: "/events/recent", _limit_20),
    "REST /stats": _rest(lambda p, i: "/stats"),
}


async def time_requests(
    urls: dict[str, str], bases: dict[str, str], count: int, seed: int
) -> dict[tuple[str, str], list[float]]:
    """ms per request, by (request, database): every request and database in
    turn, per sample, one request at a time (`bases`: each database's gateway)."""
    picks = {name: await samples(url, count, seed) for name, url in urls.items()}
    clients = {
        name: httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(keepalive_expiry=2))
        for name, base in bases.items()
    }
    timings: dict[tuple[str, str], list[float]] = {}
    try:
        for i in range(count):
            for request, send in REQUESTS.items():
                for name, client in clients.items():
                    started = time.perf_counter()
                    await send(client, picks[name], i)
                    timings.setdefault((request, name), []).append(
                        (time.perf_counter() - started) * 1000
                    )
    finally:
        for client in clients.values():
            await client.aclose()
    return timings


def report_requests(timings: dict[tuple[str, str], list[float]], names: list[str]) -> None:
    """p50 / p99 and (in brackets) the pass's first request of each query."""
    print(
        f"{'p50 / p99 (first) ms':<36}" + "".join(f"{n:>26}" for n in names) + "   tsz/ts p50, p99"
    )
    for request in REQUESTS:
        cells = [
            f"{statistics.median(v):7.2f} / {_p(v, 0.99):6.2f} ({v[0]:6.1f})"
            if (v := timings.get((request, name)))
            else "-"
            for name in names
        ]
        a, b = timings.get((request, "tsz")), timings.get((request, "ts"))
        ratio = ""
        if a and b:
            p50, p99 = statistics.median(a) / statistics.median(b), _p(a, 0.99) / _p(b, 0.99)
            ratio = f"   {p50:5.2f}x {p99:5.2f}x"
        print(f"{request:<36}" + "".join(f"{c:>26}" for c in cells) + ratio)


async def through_http(urls: dict[str, str], args: argparse.Namespace) -> None:
    """Start a gateway on each database and time bench/gateway.py's requests, two passes."""
    gateways: list[subprocess.Popen[bytes]] = []
    bases: dict[str, str] = {}
    try:
        for name, url in urls.items():
            port = BG.free_port()
            gateways.append(await BG.start_gateway(url, port, 1))
            bases[name] = f"http://127.0.0.1:{port}"
        for label, seed in (("first pass, gateways just started", 0), ("second pass, warm", 1)):
            load = os.getloadavg()[0]
            timings = await time_requests(urls, bases, args.samples, args.seed + seed)
            print(
                f"\n{label}: {args.samples} samples, load average "
                f"{load:.1f} -> {os.getloadavg()[0]:.1f}"
            )
            report_requests(timings, list(bases))
    finally:
        for process in gateways:
            process.terminate()
            process.wait(10)


# ---------------------------------------------------------------- chunk counts

PLANNED = {
    "by plate (20)": "SELECT * FROM alpr_reads($1, NULL, NULL, NULL, NULL, NULL, NULL, false, "
    "21, NULL, NULL, NULL, NULL, NULL)",
    "by plate, replaced": f"SELECT {COLUMNS} FROM plate_events WHERE plate_normalized_text = $1 "
    "ORDER BY captured_at DESC, event_id DESC LIMIT 21",
    "by id": "SELECT * FROM alpr_event_read($2)",
    "recent 100": f"SELECT {COLUMNS} FROM plate_events "
    "ORDER BY captured_at DESC, event_id DESC LIMIT 101",
}


async def planning(url: str, plate: str, event_id: Any) -> dict[str, float]:
    """Planning time (ms) of statements planned ad hoc, the median of 5."""
    conn = await asyncpg.connect(url, server_settings={"jit": "off"})
    found: dict[str, float] = {}
    try:
        for name, text in PLANNED.items():
            text = text.replace("$1", f"'{plate}'").replace("$2", f"'{event_id}'")
            times = []
            for _ in range(5):
                plan = await conn.fetchval(f"EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) {text}")
                times.append(float(json.loads(plan)[0]["Planning Time"]))
            found[name] = statistics.median(times)
    finally:
        await conn.close()
    return found


async def chunk_counts(args: argparse.Namespace, pg_admin: str | None) -> None:
    counts = [int(c) for c in args.chunks.split(",")]
    urls: dict[str, str] = {}
    for days in counts:
        for engine, admin_url in (("timescaledb", args.database_url), ("postgres", pg_admin)):
            if admin_url is None:
                continue
            name = f"{args.prefix}_c{days}_{'ts' if engine == 'timescaledb' else 'pg'}"
            key = f"{days} {'ts' if engine == 'timescaledb' else 'pg'}"
            urls[key] = (
                with_db(admin_url, name)
                if args.reuse
                else await build(admin_url, name, engine, days * args.chunk_reads, days)
            )
    for key, url in urls.items():
        conn = await asyncpg.connect(url)
        plate = await conn.fetchval(
            "SELECT plate_normalized_text FROM plates ORDER BY random() LIMIT 1"
        )
        event_id = await conn.fetchval("SELECT event_id FROM event_ids ORDER BY random() LIMIT 1")
        await conn.close()
        planned = await planning(url, plate, event_id)
        print(f"{key}: planning ms " + ", ".join(f"{k} {v:.2f}" for k, v in planned.items()))
    passes = await time_reads(
        urls, args.samples, [args.seed, args.seed + 1], chosen_reads(args.replaced)
    )
    for label, timings in zip(("first", "second"), passes, strict=True):
        print(f"\n{label} pass, load average {os.getloadavg()[0]:.1f}")
        report(timings, list(urls))


# ---------------------------------------------------------------- plans and first reads


def _plan_parts(node: dict[str, Any], partitions: set[str]) -> tuple[set[str], int]:
    """The partitions a plan (JSON) scans, and how many it removed at start-up."""
    found = {node["Relation Name"]} & partitions if "Relation Name" in node else set()
    removed = int(node.get("Subplans Removed", 0))
    for child in node.get("Plans", []):
        more, gone = _plan_parts(child, partitions)
        found |= more
        removed += gone
    return found, removed


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return f"'{value}'"


async def _explain(
    conn: asyncpg.Connection[Any], partitions: set[str], sql: str, *args: Any
) -> tuple[float, float, int, int]:
    """Planning ms, execution ms, partitions kept and removed at start-up.
    With `args`, the statement is prepared and explained at its first
    EXECUTE, which builds its generic plan (a session of the gateway's): the
    planning a gateway connection does once per statement."""
    if args:
        await conn.execute(f"PREPARE explained AS {sql}")
        sql = f"EXECUTE explained({', '.join(_literal(a) for a in args)})"
    try:
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) {sql}"))
    finally:
        if args:
            await conn.execute("DEALLOCATE explained")
    kept, removed = _plan_parts(plan[0]["Plan"], partitions)
    return plan[0]["Planning Time"], plan[0]["Execution Time"], len(kept), removed


async def _day_statements(
    conn: asyncpg.Connection[Any], partitions: set[str], plate: str
) -> tuple[float, float, int, int]:
    """The plate page's day statements as alpr_reads runs them (each planned
    for its day's bounds: the values written in), summed over the days read."""
    days = await conn.fetch(
        "SELECT day FROM plate_days WHERE plate_normalized_text = $1 ORDER BY day DESC", plate
    )
    total = [0.0, 0.0, 0, 0]
    left = 21
    for (day,) in days:
        start = datetime.combine(day, datetime.min.time(), UTC)
        plan = await _explain(
            conn,
            partitions,
            f"SELECT {COLUMNS} FROM plate_events WHERE plate_normalized_text = '{plate}' "
            f"AND captured_at >= '{start.isoformat()}' "
            f"AND captured_at < '{(start + timedelta(days=1)).isoformat()}' "
            f"ORDER BY captured_at DESC, event_id DESC LIMIT {left}",
        )
        total = [a + b for a, b in zip(total, plan, strict=True)]
        left -= await conn.fetchval(
            "SELECT count(*) FROM plate_events WHERE plate_normalized_text = $1 "
            "AND captured_at >= $2 AND captured_at < $3",
            plate,
            start,
            start + timedelta(days=1),
        )
        if left <= 0:
            break
    return total[0], total[1], int(total[2]), int(total[3])


async def _probe(
    conn: asyncpg.Connection[Any], partitions: set[str], event_id: Any
) -> tuple[float, float, int, int]:
    """alpr_event_read's probe, planned for the time event_ids gives."""
    at = await conn.fetchval("SELECT captured_at FROM event_ids WHERE event_id = $1", event_id)
    return await _explain(
        conn,
        partitions,
        f"SELECT {COLUMNS} FROM plate_events WHERE event_id = '{event_id}' "
        f"AND captured_at = '{at.isoformat()}'",
    )


async def explain(name: str, url: str, seed: int, count: int = 5) -> None:
    """EXPLAIN (ANALYZE, SUMMARY) of the plate page and the read by id, on a
    connection set up as the gateway's: medians of `count` samples."""
    picks = await samples(url, count, seed)
    conn = await asyncpg.connect(url, server_settings=SESSION)
    try:
        partitions = {
            r[0]
            for r in await conn.fetch(
                "SELECT inhrelid::regclass::text FROM pg_inherits "
                "WHERE inhparent = 'plate_events'::regclass"
            )
        }
        plans: dict[str, list[tuple[float, float, int, int]]] = {}

        async def add(label: str, plan: Awaitable[tuple[float, float, int, int]]) -> None:
            plans.setdefault(label, []).append(await plan)

        for plate, event_id in zip(picks["plate"], picks["id"], strict=False):
            page = queries.QUERIES["events_page"].bind(
                **queries.filter_params(EventQuery(plate=plate)),
                backward=False,
                offset=0,
                cursor_at=None,
                cursor_id=None,
                limit=21,
            )
            replaced = REPLACED["plate"].bind(
                **queries.filter_params(EventQuery(plate=plate)),
                cursor_at=None,
                cursor_id=None,
                limit=21,
            )
            by_id = queries.QUERIES["event_by_id"].bind(event_id=event_id)
            await add("by plate: events_page (generic)", _explain(conn, partitions, *page))
            await add("  its day statements (custom)", _day_statements(conn, partitions, plate))
            await add("by plate, replaced (generic)", _explain(conn, partitions, *replaced))
            await add("by id: event_by_id (generic)", _explain(conn, partitions, *by_id))
            await add("  its probe (custom)", _probe(conn, partitions, event_id))
            await add(
                "by id, replaced (generic)", _explain(conn, partitions, REPLACED_BY_ID, event_id)
            )
    finally:
        await conn.close()
    print(f"\n{name}: EXPLAIN (ANALYZE, SUMMARY), {count} samples, median (max) ms")
    print(f"{'statement':<34}{'planning':>18}{'execution':>18}  partitions kept / removed")
    for label, found in plans.items():
        timed = ([f[0] for f in found], [f[1] for f in found])
        cells = [f"{statistics.median(v):8.2f} ({max(v):8.2f})" for v in timed]
        kept = sorted({f[2] for f in found})
        removed = sorted({f[3] for f in found})
        print(f"{label:<34}{cells[0]:>18}{cells[1]:>18}  {kept} / {removed}")


async def first_reads(name: str, url: str, count: int, seed: int) -> None:
    """Each read on `count` new connections opened as the gateway opens them
    (gateway.app._connect): ms to open, the first read, the second read."""
    settings = GatewaySettings(database_url=url, db_pool_min=1, db_pool_max=1)
    picks = await samples(url, 2 * count, seed)
    print(f"\n{name}: first reads on {count} new gateway connections, median (max) ms")
    print(f"{'read':<22}{'open':>20}{'first read':>20}{'second read':>20}")
    for read, (run, kind) in chosen_reads(False).items():
        times: list[tuple[float, float, float]] = []
        for i in range(count):
            started = time.perf_counter()
            pool = await _connect(settings, url)
            opened = time.perf_counter()
            try:
                await run(pool, picks[kind][i])
                first = time.perf_counter()
                await run(pool, picks[kind][count + i])
                second = time.perf_counter()
            finally:
                await pool.close()
            times.append(
                ((opened - started) * 1000, (first - opened) * 1000, (second - first) * 1000)
            )
        cells = [f"{statistics.median(v):8.1f} ({max(v):7.1f})" for v in zip(*times, strict=True)]
        print(f"{read:<22}" + "".join(f"{c:>20}" for c in cells), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


# ---------------------------------------------------------------- main


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="TimescaleDB server, superuser")
    parser.add_argument(
        "--existing",
        action="append",
        help="time this database (repeatable; named by its engine); build nothing",
    )
    parser.add_argument(
        "--explain", action="store_true", help="planning, execution, partitions of by plate, by id"
    )
    parser.add_argument(
        "--first", type=int, default=0, help="first reads on this many new gateway connections"
    )
    parser.add_argument("--pg-dir", default="/tmp/alpr-history-pg", help="embedded PG data")
    parser.add_argument("--no-pg", action="store_true", help="skip plain PostgreSQL")
    parser.add_argument("--prefix", default="alpr_hist")
    parser.add_argument("--reads", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the databases built (migrated first)"
    )
    parser.add_argument(
        "--replaced",
        action="store_true",
        help="also time the statements the day walk replaced (a second each at 1,000 chunks)",
    )
    parser.add_argument("--chunks", help="e.g. 30,365,1000: time per chunk count instead")
    parser.add_argument("--chunk-reads", type=int, default=2000, help="reads a day, --chunks")
    args = parser.parse_args()
    if args.existing:
        await existing(args)
        return
    if not args.database_url:
        parser.error("--database-url or --existing is required")
    server = None if args.no_pg else start_server(Path(args.pg_dir))
    pg_admin = server_uri(server, "postgres") if server else None
    if args.chunks:
        await chunk_counts(args, pg_admin)
        return
    urls = {}
    ts, tsz, pg = (f"{args.prefix}_{suffix}" for suffix in ("ts", "tsz", "pg"))
    if args.reuse:
        urls = {"ts": with_db(args.database_url, ts), "tsz": with_db(args.database_url, tsz)}
        if pg_admin:
            urls["pg"] = with_db(pg_admin, pg)
        for url in urls.values():
            await migrate(url, "auto")
        await fill_copy(urls["tsz"])
    else:
        urls["ts"] = await build(args.database_url, ts, "timescaledb", args.reads, args.days)
        urls["tsz"] = await compressed_copy(args.database_url, ts, tsz)
        if pg_admin:
            urls["pg"] = await build(pg_admin, pg, "postgres", args.reads, args.days)
    await measure(urls, args)


async def measure(urls: dict[str, str], args: argparse.Namespace) -> None:
    for name, url in urls.items():
        print(f"{name}: {await storage(url)}")
    await through_http(urls, args)
    print("\nthe gateway's read functions on one connection each (no HTTP), two passes:")
    passes = await time_reads(
        urls, args.samples, [args.seed, args.seed + 1], chosen_reads(args.replaced)
    )
    for label, timings in zip(("first", "second"), passes, strict=True):
        print(f"\n{label} pass, load average {os.getloadavg()[0]:.1f}")
        report(timings, list(urls))


async def existing(args: argparse.Namespace) -> None:
    """Time databases built before: migrated first, as --reuse does."""
    urls: dict[str, str] = {}
    for url in args.existing:
        await migrate(url, "auto")
        conn = await asyncpg.connect(url)
        try:
            engine = await conn.fetchval("SELECT engine FROM alpr_engine")
        finally:
            await conn.close()
        name = "ts" if engine == "timescaledb" else "pg"
        urls[name if name not in urls else f"{name}{len(urls)}"] = url
    if args.explain:
        for name, url in urls.items():
            await explain(name, url, args.seed)
    if args.first:
        for name, url in urls.items():
            await first_reads(name, url, args.first, args.seed)
    if args.samples:
        await measure(urls, args)


if __name__ == "__main__":
    asyncio.run(main())
