"""The columnstore settings of plate_events, measured on the gateway's reads (TimescaleDB).

Loads N reads over D past days with SQL (the plate mix of bench/gateway.py:
30 % from a few busy plates, the rest spread over a pool of N/2 plates, most
seen once or twice), then for each candidate setting compresses every day
and times, on one connection, sequentially, the gateway's own statements
(gateway/queries.py) for random keys, p50 / p99 in ms:

  plate        events by plate, first page of 20, no time bound: walks every
               chunk newest first until it has 21 reads
  plate day    the same bounded to one day the plate was seen: what a query
               pruned by the plate's days pays per day
  id           event(id): event_ids, then one chunk
  camera day   a camera's newest 20 of one day
  site day     a site's newest 20 of one day
  recent 100   100 reads before a random moment of the history

and stores late reads (one, and 1,000 over one day) into a day of the
history through the ingestor's writer. Each setting gets a copy of the
loaded database, and every sample is asked of each copy in turn, so the
machine's load falls on all settings alike. Bytes per read: the
hypertable's size (heap, indexes, toast; compressed chunks included) over
its reads.

    .venv/bin/python bench/compression.py --database-url postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/compression.py --reads 1500000 --days 10 --variants camera,none,plate

The databases are created, and dropped unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import migrate
from gateway.queries import QUERIES as G
from gateway.queries import filter_params
from ingestor.writer import Writer
from schema.events import PlateEvent
from schema.filters import EventQuery


@dataclass(frozen=True)
class Variant:
    """One columnstore setting: ALTER TABLE plate_events SET (...)."""

    segmentby: str
    orderby: str
    sparse: str | None = None  # timescaledb.sparse_index; None: the automatic ones


VARIANTS = {
    "camera": Variant("camera_id", "captured_at DESC, event_id"),
    "none": Variant("", "captured_at DESC, event_id"),
    "plate": Variant("plate_normalized_text", "captured_at DESC, event_id"),
    "site": Variant("site_id", "captured_at DESC, event_id"),
    "camera-plateorder": Variant("camera_id", "plate_normalized_text, captured_at DESC, event_id"),
    # The filters the gateway's reads use, and none of the automatic ones
    # nothing asks (track_id, and the key with each other indexed column).
    "camera-lean": Variant(
        "camera_id",
        "captured_at DESC, event_id",
        "bloom(plate_normalized_text), bloom(site_id), bloom(event_id, captured_at)",
    ),
}

# One day of reads, in SQL: camera uniform, plate as in bench/gateway.py.
_LOAD_DAY = """
INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text,
    plate_normalized_text, plate_confidence, plate_region, vehicle_type, vehicle_make,
    vehicle_color, plate_image_url, latency_ms, site_id, direction)
SELECT id, at, 'cam-' || lpad(cam::text, 3, '0'), 't-' || g, 'B' || lpad(p::text, 7, '0'),
    'B' || lpad(p::text, 7, '0'), 0.5 + random() / 2, 'US-FL',
    (ARRAY['car','truck','van','motorcycle'])[1 + (g % 4)],
    (ARRAY['Toyota','Ford','Honda','Tesla','BMW'])[1 + (g % 5)],
    (ARRAY['silver','black','white','red','blue'])[1 + (g % 5)],
    'https://img.example/' || g || '/p.jpg', 20 + (g % 100),
    'site-' || lpad((cam % $4)::text, 2, '0'),
    (ARRAY['inbound','outbound'])[1 + (g % 2)]
FROM (
    SELECT g, gen_random_uuid() AS id,
        $1::timestamptz + random() * interval '1 day' AS at,
        floor(random() * $3)::int AS cam,
        CASE WHEN random() < 0.3 THEN floor(power(random(), -1 / 1.2))::bigint % $5
             ELSE floor(random() * $5)::bigint END AS p
    FROM generate_series(1, $2) AS g
) r
"""

_IDS = "INSERT INTO event_ids SELECT event_id, captured_at FROM plate_events"

_BYTES = "SELECT hypertable_size('plate_events')::float8 / NULLIF(count(*), 0) FROM plate_events"


def _url(admin: str, name: str) -> str:
    return urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))


async def fresh_database(admin: str) -> str:
    name = f"alpr_bench_compress_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = _url(admin, name)
    report = await migrate(url, "timescaledb")
    assert report.engine == "timescaledb"
    return url


async def drop_database(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await conn.close()


def history_days(args: argparse.Namespace) -> list[date]:
    """The loaded days, oldest first: all past the 7-day compression age."""
    today = datetime.now(UTC).date()
    return [today - timedelta(days=8 + d) for d in reversed(range(args.days))]


async def load(conn: asyncpg.Connection[Any], args: argparse.Namespace) -> None:
    per_day = args.reads // args.days
    for day in history_days(args):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        await conn.execute(_LOAD_DAY, start, per_day, args.cameras, args.sites, args.reads // 2)
    await conn.execute(_IDS)
    await conn.execute("ANALYZE")


async def compress_all(conn: asyncpg.Connection[Any], variant: Variant) -> float:
    """Apply `variant` and compress every chunk past the 7-day age; seconds spent compressing."""
    options = [
        f"timescaledb.compress_segmentby = '{variant.segmentby}'",
        f"timescaledb.compress_orderby = '{variant.orderby}'",
    ]
    if variant.sparse is not None:
        options.append(f"timescaledb.sparse_index = '{variant.sparse}'")
    await conn.execute(f"ALTER TABLE plate_events SET ({', '.join(options)})")
    started = time.perf_counter()
    await conn.execute(
        "SELECT compress_chunk(c, if_not_compressed => true) "
        "FROM show_chunks('plate_events', older_than => now() - interval '7 days') c"
    )
    seconds = time.perf_counter() - started
    await conn.execute("ANALYZE")
    return seconds


async def make_template(admin: str, url: str) -> str:
    """Make the loaded database a template: copies need it idle, and
    TimescaleDB's background workers connect to it, so they are ended."""
    name = urlsplit(url).path[1:]
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await conn.close()
    return name


async def copy_of(admin: str, template: str, label: str) -> str:
    name = f"{template}_{label.replace('-', '_')}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return _url(admin, name)


@dataclass(frozen=True)
class Keys:
    plates: list[tuple[str, datetime]]  # a plate and the start of a day it was seen
    ids: list[uuid.UUID]
    cameras: list[str]
    sites: list[str]
    days: list[datetime]
    moments: list[datetime]


async def sample(conn: asyncpg.Connection[Any], n: int, days: list[date]) -> Keys:
    rows = await conn.fetch(
        "SELECT event_id, plate_normalized_text AS plate, "
        "date_trunc('day', captured_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day "
        "FROM plate_events TABLESAMPLE SYSTEM (1) ORDER BY random() LIMIT $1",
        n,
    )
    cameras = [r[0] for r in await conn.fetch("SELECT DISTINCT camera_id FROM plate_events")]
    sites = [r[0] for r in await conn.fetch("SELECT DISTINCT site_id FROM plate_events")]
    starts = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days]
    rng = random.Random(11)
    span = (starts[-1] + timedelta(days=1) - starts[0]).total_seconds()
    return Keys(
        plates=[(r["plate"], r["day"]) for r in rows],
        ids=[r["event_id"] for r in rows],
        cameras=cameras,
        sites=sites,
        days=starts,
        moments=[starts[0] + timedelta(seconds=rng.random() * span) for _ in range(n)],
    )


def _page(lead: str, value: str | None, day: datetime | None) -> dict[str, Any]:
    until = day + timedelta(days=1) if day else None
    query = EventQuery(**({lead: value} if lead else {}), since=day, until=until)
    return filter_params(query)


def scenarios(keys: Keys) -> dict[str, Callable[[int], tuple[str, dict[str, Any]]]]:
    """name -> (i -> statement, parameters) for the i-th sample."""
    rng = random.Random(5)
    cams = [rng.choice(keys.cameras) for _ in keys.ids]
    sites = [rng.choice(keys.sites) for _ in keys.ids]
    days = [rng.choice(keys.days) for _ in keys.ids]
    page = {"cursor_at": None, "cursor_id": None, "limit": 21}
    return {
        "plate": lambda i: (
            "events_plate_desc",
            {**_page("plate", keys.plates[i][0], None), **page},
        ),
        "plate day": lambda i: (
            "events_plate_desc",
            {**_page("plate", *keys.plates[i]), **page},
        ),
        "id": lambda i: ("event_by_id", {"event_id": keys.ids[i]}),
        "camera day": lambda i: (
            "events_camera_desc",
            {**_page("camera_id", cams[i], days[i]), **page},
        ),
        "site day": lambda i: (
            "events_site_desc",
            {**_page("site_id", sites[i], days[i]), **page},
        ),
        "recent 100": lambda i: (
            "events_all_desc",
            {**_page("", None, None), **page, "cursor_at": keys.moments[i], "limit": 101},
        ),
    }


Timings = dict[str, dict[str, tuple[float, float]]]


async def time_queries(conns: dict[str, asyncpg.Connection[Any]], keys: Keys) -> Timings:
    """p50 / p99 (ms) per setting and scenario. Each sample is asked of every
    setting's database in turn (the order rotating), so the machine's load
    falls on all alike; each statement runs once untimed first (prepare)."""
    times: dict[str, dict[str, list[float]]] = {name: {} for name in conns}
    for scenario, make in scenarios(keys).items():
        for conn in conns.values():
            statement, params = make(0)
            await conn.fetch(*G[statement].bind(**params))
        for i in range(len(keys.ids)):
            statement, params = make(i)
            names = list(conns)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                await conns[name].fetch(*G[statement].bind(**params))
                times[name].setdefault(scenario, []).append((time.perf_counter() - started) * 1000)
    return {
        name: {
            scenario: (statistics.median(t), statistics.quantiles(t, n=100)[98])
            for scenario, t in by_scenario.items()
        }
        for name, by_scenario in times.items()
    }


def _late(at: datetime, i: int) -> PlateEvent:
    return PlateEvent(
        event_id=uuid.uuid4(),
        captured_at=at,
        camera_id="cam-000",
        track_id=f"late-{i}",
        plate_text=f"L{i:07d}",
        plate_confidence=0.9,
        plate_region="US-FL",
        site_id="site-00",
    )


async def time_writes(conns: dict[str, asyncpg.Connection[Any]], day: datetime) -> Timings:
    """The writer storing late reads for `day` in each database, in turn:
    1 read (x 20, p50 / p90 ms) and 1,000 reads over the day (x 3)."""
    writers = {name: Writer() for name in conns}
    rng = random.Random(3)
    times: dict[str, dict[str, list[float]]] = {name: {} for name in conns}

    async def batch(name: str, n: int) -> float:
        events = [_late(day + timedelta(seconds=rng.random() * 86399), i) for i in range(n)]
        started = time.perf_counter()
        result = await writers[name].write(conns[name], events)
        assert result.stored == n
        return (time.perf_counter() - started) * 1000

    for name in conns:
        await batch(name, 1)  # prepare
    for label, n, rounds in (("late 1", 1, 20), ("late 1000", 1000, 3)):
        for _ in range(rounds):
            for name in conns:
                times[name].setdefault(label, []).append(await batch(name, n))
    return {
        name: {label: (statistics.median(t), max(t)) for label, t in by_label.items()}
        for name, by_label in times.items()
    }


def _row(name: str, figures: dict[str, tuple[float, float]]) -> str:
    return f"{name:<22}" + "".join(f"{p50:8.1f} /{p99:7.1f}" for p50, p99 in figures.values())


async def run(admin: str, url: str, args: argparse.Namespace) -> list[str]:
    """Load, copy per setting, compress, time; returns the databases made."""
    conn = await asyncpg.connect(url)
    days = history_days(args)
    try:
        started = time.perf_counter()
        await load(conn, args)
        reads = int(await conn.fetchval("SELECT count(*) FROM plate_events"))
        print(
            f"loaded {reads:,} reads over {len(days)} days in {time.perf_counter() - started:.0f} s"
        )
        keys = await sample(conn, args.samples, days)
    finally:
        await conn.close()
    template = await make_template(admin, url)
    names = ["uncompressed", *args.variants.split(",")]
    urls = {name: await copy_of(admin, template, name) for name in names}
    conns = {name: await asyncpg.connect(u) for name, u in urls.items()}
    try:
        notes = []
        for name in names[1:]:
            seconds = await compress_all(conns[name], VARIANTS[name])
            notes.append(f"{name}: compressed in {seconds:.0f} s")
        per_read = {name: float(await c.fetchval(_BYTES)) for name, c in conns.items()}
        reads_timed = await time_queries(conns, keys)
        writes_timed = await time_writes(conns, keys.days[len(days) // 2])
        print(f"\n{reads:,} reads, {len(days)} days, {args.cameras} cameras; p50 / p99 ms")
        print(f"{'setting':<18}{'bytes/read':>11}" + "".join(f"{n:>16}" for n in scenarios(keys)))
        for name in names:
            figures = reads_timed[name].values()
            print(
                f"{name:<18}{per_read[name]:>11.0f}"
                + "".join(f"{p50:8.1f} /{p99:6.1f}" for p50, p99 in figures)
            )
        print("\nlate reads for a day of the history, the writer, p50 / max ms")
        for name in names:
            print(
                f"{name:<18}"
                + "".join(
                    f"{k} {p50:7.1f} /{worst:7.1f}   "
                    for k, (p50, worst) in writes_timed[name].items()
                )
            )
        print("\n".join(notes))
    finally:
        for c in conns.values():
            await c.close()
    return [*urls.values()]


async def main(args: argparse.Namespace) -> None:
    url = await fresh_database(args.database_url)
    print(f"database {url}")
    made: list[str] = []
    try:
        made = await run(args.database_url, url, args)
    finally:
        if not args.keep:
            for u in made:
                await drop_database(args.database_url, u)
            conn = await asyncpg.connect(args.database_url)
            try:
                name = urlsplit(url).path[1:]
                await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", required=True, help="superuser URL to a TimescaleDB server")
    p.add_argument("--reads", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--cameras", type=int, default=32)
    p.add_argument("--sites", type=int, default=8)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--variants", default="camera,camera-lean,none")
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
