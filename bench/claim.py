"""What claiming each read's id costs the write path, as the id table grows.

The writer stores a batch with three COPYs (event_ids, plate_events, the
batch's inserted rows) and its rollup statements, in one transaction. This
bench writes batches with `ingestor.writer.Writer` and charges each COPY its
wall time and the backend's CPU time (from /proc), so the claim's share of
the batch and the rate without it come from the same run and the same load:

    .venv/bin/python bench/claim.py --events 100000
    .venv/bin/python bench/claim.py --events 100000 --ids 5000000

--ids first fills event_ids with that many random ids (the ids of a year of
reads), so the claim lands on a key of that size. PostgreSQL: --database-url
(a superuser URL on this machine, so its backend's /proc entry is readable; a
database `alpr_bench_claim` is created and dropped) or an embedded server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import migrate
from ingestor.simulate import Simulation, SimulationConfig
from ingestor.writer import Writer
from schema.events import PlateEvent, decode_event

DATABASE = "alpr_bench_claim"
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of the server process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Charged(asyncpg.Connection):
    """A connection that charges each COPY its wall and backend CPU time, by table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.copies: dict[str, list[float]] = {}

    async def copy_records_to_table(self, table_name: str, **kwargs: Any) -> str:
        pid = self.get_server_pid()
        cpu, wall = backend_cpu(pid), time.perf_counter()
        status = await super().copy_records_to_table(table_name, **kwargs)
        spent = self.copies.setdefault(table_name, [0.0, 0.0])
        spent[0] += backend_cpu(pid) - cpu
        spent[1] += time.perf_counter() - wall
        return str(status)


async def fresh_database(admin: str) -> str:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin)._replace(path="/" + DATABASE))


async def fill_ids(conn: asyncpg.Connection, n: int) -> float:
    """Claim `n` random ids spread over the past year; seconds taken."""
    started = time.perf_counter()
    await conn.execute(
        "INSERT INTO event_ids SELECT gen_random_uuid(),"
        " now() - interval '366 days' + g * (interval '365 days' / $1::int)"
        " FROM generate_series(1, $1::int) AS g",
        n,
    )
    await conn.execute("VACUUM ANALYZE event_ids")
    return time.perf_counter() - started


def synthetic(n: int, plates: int) -> list[PlateEvent]:
    sim = Simulation(SimulationConfig(cameras=16, plates=plates, seed=11))
    return [decode_event(orjson.dumps(sim.event())) for _ in range(n)]


async def measure(url: str, args: argparse.Namespace) -> None:
    await migrate(url)
    conn: Charged = await asyncpg.connect(url, connection_class=Charged)
    try:
        if args.ids:
            print(
                f"event_ids filled with {args.ids:,} ids in {await fill_ids(conn, args.ids):.0f} s"
            )
        events, writer, pid = synthetic(args.events, args.plates), Writer(), conn.get_server_pid()
        cpu, wall = backend_cpu(pid), time.perf_counter()
        for i in range(0, len(events), args.batch):
            await writer.write(conn, events[i : i + args.batch])
        cpu, wall = backend_cpu(pid) - cpu, time.perf_counter() - wall
        size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('event_ids_pkey'))")
        memory = await conn.fetchval("SHOW shared_buffers")
        report(conn.copies, cpu, wall, args, f"event_ids key {size}, shared_buffers {memory}")
    finally:
        await conn.close()


def report(
    copies: dict[str, list[float]], cpu: float, wall: float, args: argparse.Namespace, sizes: str
) -> None:
    print(
        f"{args.events:,} reads in batches of {args.batch:,} over {args.ids:,} stored ids"
        f" ({sizes}), load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"batch       backend CPU {cpu:6.2f} s   wall {wall:6.2f} s"
        f"   {args.events / wall:,.0f} reads/s"
    )
    for table, (c, w) in copies.items():
        print(
            f"COPY {table:<14} CPU {c:6.2f} s ({c / cpu:4.0%})  wall {w:6.2f} s ({w / wall:4.0%})"
        )
    claim_cpu, claim_wall = copies.get("event_ids", [0.0, 0.0])
    print(
        f"with the claim / without it: {(wall - claim_wall) / wall:.2f}x the rate,"
        f" {(cpu - claim_cpu) / cpu:.2f}x the backend CPU"
    )


async def main(args: argparse.Namespace) -> None:
    server = None
    if args.database_url:
        admin = args.database_url
    else:
        from core.embedded import server_uri, start_server

        server = start_server(Path(tempfile.mkdtemp(prefix="alpr-bench-pg-")))
        admin = server_uri(server, "postgres")
    try:
        await measure(await fresh_database(admin), args)
    finally:
        if server is not None:
            server.cleanup()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--plates", type=int, default=50_000)
    p.add_argument("--ids", type=int, default=0, help="ids stored before the run")
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
