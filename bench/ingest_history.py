"""Ingest into an empty database beside one already holding a year, in one run.

Two databases with the full schema: `empty`, and `year`, loaded first with N
reads over 365 days, a day at a time, oldest first (the reads in SQL, the
rollups by the writer's own statements) and, on TimescaleDB, with every
chunk older than the compression age compressed, as the policy leaves them. Then the same stream
of new reads (now, the same cameras and the same plate pool, so returning
plates update the rows a year made) is written into both through the
writer, a batch into one and the same batch's twin into the other, turn
about, so load on the machine falls on both alike. Every --merge-every-s
seconds both databases' plate-search pending lists are merged, as the
ingestor service does beside its sources (a writer that finds a list full
merges it inline, a 0.3-0.7 s batch that otherwise lands on one side at
random); the merges are timed apart from the batches. A checkpoint before
the first batch starts both from clean buffers. Prints reads/s of each
(the writer's, and with the merges counted), and year / empty (the target
is at least 85 %).

The writer is the step every source (Kafka, HTTP, files) ends in, and the
only one whose work depends on what the database holds; the sources' own
cost is measured by bench/ingest.py.

    .venv/bin/python bench/ingest_history.py --database-url postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/ingest_history.py --year-reads 3000000 --batches 60

PostgreSQL: --database-url (a superuser URL; databases are created and
dropped unless --keep) or an embedded server (plain PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import EnginePreference, migrate
from ingestor.simulate import Simulation, SimulationConfig
from ingestor.writer import _ROLLUPS, Writer, merge_search_pending
from schema.events import PlateEvent, event_from_dict
from sql import load_queries

DAY = timedelta(days=1)


async def fresh_database(admin: str, engine: EnginePreference) -> tuple[str, str]:
    name = f"alpr_bench_history_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    report = await migrate(url, engine)
    return url, report.engine


async def drop_database(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await conn.close()


def reads(sim: Simulation, times: Iterator[datetime], n: int) -> list[PlateEvent]:
    """`n` reads of the simulation, captured at the next `n` of `times`."""
    batch = []
    for _ in range(n):
        event = sim.event()
        event["captured_at"] = next(times).isoformat()
        batch.append(event_from_dict(event))
    return batch


# Some days of the year in SQL, into plate_events and the writer's scratch
# table of inserted reads: the simulation's cameras, sites and plates (the
# plate drawn with weight 1/(rank + 1), as Simulation draws it), at times
# spread over the days.
_LOAD_DAYS = """
WITH ins AS (
    INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text,
        plate_normalized_text, plate_confidence, plate_region, vehicle_type, vehicle_color,
        latency_ms, site_id, host_id, direction)
    SELECT gen_random_uuid(), $1::timestamptz + random() * $6::interval,
        'cam-' || lpad(cam::text, 3, '0'), 'y-' || g, p.plate, p.plate, 0.55 + random() * 0.44,
        'US-FL', 'car', 'silver', 20 + g % 100,
        'site-' || lpad((cam % $4)::text, 2, '0'), 'edge-cam-' || lpad(cam::text, 3, '0'),
        'inbound'
    FROM (
        SELECT g, floor(random() * $3)::int AS cam,
            least(floor(exp(random() * ln($5 + 1.0)))::int, $5) AS rank
        FROM generate_series(1, $2) AS g
    ) AS r
    JOIN bench_plates AS p USING (rank)
    ORDER BY 2
    RETURNING event_id, captured_at, camera_id, site_id, plate_normalized_text,
        plate_region, plate_confidence, latency_ms
)
INSERT INTO alpr_inserted SELECT * FROM ins
"""


async def load_year(url: str, args: argparse.Namespace, sim: Simulation, end: datetime) -> None:
    """The year in SQL, oldest first, `--load-days` days per transaction; the
    rollups by the writer's own statements from those reads, so they are what
    the writer would have made of them."""
    q = load_queries("ingest")
    per_day = args.year_reads // 365
    first = (end - 365 * DAY).replace(hour=0, minute=0, second=0, microsecond=0)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(*q["create_staging"].bind())
        await conn.execute(
            "CREATE TEMP TABLE bench_plates AS SELECT rank::int, replace(plate, '-', '') AS plate "
            "FROM unnest($1::text[]) WITH ORDINALITY AS u(plate, rank)",
            sim.plates,
        )
        await conn.execute("CREATE UNIQUE INDEX ON bench_plates (rank)")
        for offset in range(0, 365, args.load_days):
            n = min(args.load_days, 365 - offset)
            start = first + offset * DAY
            days = [(start + k * DAY).date() for k in range(n)]
            async with conn.transaction():
                await conn.execute(*q["ensure_partitions"].bind(days=days))
                await conn.execute(
                    _LOAD_DAYS,
                    start,
                    per_day * n,
                    args.cameras,
                    args.sites,
                    len(sim.plates),
                    n * DAY,
                )
                await conn.execute(
                    "INSERT INTO event_ids SELECT event_id, captured_at FROM alpr_inserted"
                )
                for name in _ROLLUPS:
                    await conn.execute(*q[name].bind())
            print(f"  year: {offset + n} days", flush=True)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def compress_old(url: str, age: timedelta) -> int:
    conn = await asyncpg.connect(url)
    try:
        chunks = await conn.fetch(
            "SELECT compress_chunk(c, if_not_compressed => true) "
            "FROM show_chunks('plate_events', older_than => now() - $1::interval) c",
            age,
        )
        await conn.execute("ANALYZE")
        return len(chunks)
    finally:
        await conn.close()


async def describe(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT partitions, compressed_partitions, "
            "pg_database_size(current_database()) AS size FROM alpr_storage_facts()"
        )
        plates = await conn.fetchval("SELECT count(*) FROM plates")
    finally:
        await conn.close()
    return (
        f"{row['partitions']} partitions ({row['compressed_partitions']} compressed), "
        f"{plates:,} plates, {row['size'] / 2**20:,.0f} MiB"
    )


async def checkpoint(admin: str) -> None:
    """Write out what the load left dirty, so neither database starts with
    the year's checkpoint still to come."""
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def alternate(urls: dict[str, str], args: argparse.Namespace, sim: Simulation) -> None:
    """The same new reads into each database, a batch at a time, turn about."""
    conns = {name: await asyncpg.connect(url) for name, url in urls.items()}
    writers = {name: Writer() for name in urls}
    seconds: dict[str, list[float]] = {name: [] for name in urls}
    merging: dict[str, float] = {name: 0.0 for name in urls}
    now = datetime.now(UTC)
    merged_at = time.perf_counter()
    try:
        for k in range(args.warmup + args.batches):
            start = now + timedelta(milliseconds=k * args.batch)
            times = (start + timedelta(milliseconds=i) for i in range(args.batch))
            batch = reads(sim, times, args.batch)
            order = list(urls) if k % 2 == 0 else list(reversed(urls))
            for name in order:
                # A twin of the batch: the same reads under ids of their own.
                twin = [e.model_copy(update={"event_id": uuid.uuid4()}) for e in batch]
                started = time.perf_counter()
                result = await writers[name].write(conns[name], twin)
                if k >= args.warmup:
                    seconds[name].append(time.perf_counter() - started)
                assert result.stored == len(twin)
            if args.merge_every_s and time.perf_counter() - merged_at >= args.merge_every_s:
                for name in order:
                    started = time.perf_counter()
                    await merge_search_pending(conns[name])
                    if k >= args.warmup:
                        merging[name] += time.perf_counter() - started
                merged_at = time.perf_counter()
    finally:
        for conn in conns.values():
            await conn.close()
    rates = {name: args.batch * len(s) / sum(s) for name, s in seconds.items()}
    whole = {name: args.batch * len(s) / (sum(s) + merging[name]) for name, s in seconds.items()}
    for name, s in seconds.items():
        p50, p90 = statistics.median(s), statistics.quantiles(s, n=10)[8]
        print(
            f"{name:6s} {rates[name]:>9,.0f} reads/s  batch p50 {1000 * p50:.0f} ms, "
            f"p90 {1000 * p90:.0f} ms; merges {1000 * merging[name]:.0f} ms, "
            f"{whole[name]:,.0f} reads/s with them"
        )
    print(
        f"year / empty = {rates['year'] / rates['empty']:.0%} (target >= 85 %); "
        f"with merges {whole['year'] / whole['empty']:.0%}"
    )


async def run(admin: str, args: argparse.Namespace) -> None:
    config = SimulationConfig(cameras=args.cameras, sites=args.sites, plates=args.plates, seed=1)
    end = datetime.now(UTC) - timedelta(hours=1)
    urls: dict[str, str] = {}
    try:
        for name in ("empty", "year"):
            urls[name], engine = await fresh_database(admin, args.engine)
        started = time.perf_counter()
        await load_year(urls["year"], args, Simulation(config), end)
        print(f"year loaded: {args.year_reads:,} reads in {time.perf_counter() - started:.0f} s")
        if engine == "timescaledb":
            started = time.perf_counter()
            n = await compress_old(urls["year"], timedelta(days=7))
            print(f"compressed {n} chunks in {time.perf_counter() - started:.0f} s")
        for name, url in urls.items():
            print(f"{name:6s} {engine}: {await describe(url)}")
        await checkpoint(admin)
        await alternate(urls, args, Simulation(config))
    finally:
        if not args.keep:
            for url in urls.values():
                await drop_database(admin, url)


async def main(args: argparse.Namespace) -> None:
    if args.database_url:
        await run(args.database_url, args)
        return
    from core.embedded import server_uri, start_server

    with tempfile.TemporaryDirectory(prefix="alpr-bench-pg-") as tmp:
        server = start_server(Path(tmp))
        try:
            await run(server_uri(server, "postgres"), args)
        finally:
            server.cleanup()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--year-reads", type=int, default=2_000_000)
    p.add_argument("--batches", type=int, default=40, help="timed batches into each database")
    p.add_argument("--warmup", type=int, default=4, help="untimed batches first")
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument(
        "--merge-every-s",
        type=float,
        default=10.0,
        help="merge the search pending lists this often, as the service does (0: never)",
    )
    p.add_argument("--load-days", type=int, default=30, help="days of the year per load step")
    p.add_argument("--cameras", type=int, default=64)
    p.add_argument("--sites", type=int, default=8)
    p.add_argument("--plates", type=int, default=500_000)
    p.add_argument("--engine", default="auto", choices=["auto", "postgres", "timescaledb"])
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
