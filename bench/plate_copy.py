"""A plate-ordered copy of the compressed days, against the gateway's walk of
a plate's days, on years bench/history.py built.

    .venv/bin/python bench/plate_copy.py \
        --rows postgresql://postgres@127.0.0.1:55432/alpr_y5m_ts \
        --compressed postgresql://postgres@127.0.0.1:55432/alpr_y5m_tsz

Builds `bench_plate_copy` in the compressed database (bench/plate_copy.sql:
every read of the compressed days, in chunks of --interval, no segment,
ordered by plate then time), then reads pages of 20, newest first, of
plates read on at least 20 of those days and of random plates: the walk
(`alpr_reads`, bounded to the copied days) on the uncompressed and the
compressed year, and one statement over the copy; all three must return
the same reads. Two passes (the first loads the chunks on fresh
connections). Then the cost of one late read into a compressed chunk of
the copy and of `plate_events`, each rolled back. Prints p50 / p99 ms and
ratios to the uncompressed walk, the copy's bytes per read and build time.
The copy is dropped at the end unless --keep.

Since migration 0072 the walk on the compressed year reads the product's
own copy (`plate_copy`) for its closed 30-day ranges once the ingestor (or
bench/history.py) has filled it; this bench's copy covers every compressed
day and pages return `event_id` only, so it times the layout, not the
gateway's page (bench/README.md, tenth round).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.history import _p  # the same nearest-rank quantile as history.py reports

QUERIES = {
    block.split("\n", 1)[0].strip(): block.split("\n", 1)[1].strip()
    for block in (Path(__file__).with_suffix(".sql").read_text().split("-- name: ")[1:])
}
WAYS = {"rows": "walk_page", "compressed": "walk_page", "copy": "copy_page"}


async def build(conn: asyncpg.Connection[Any], interval: str, keep: bool) -> datetime:
    """The copy of the compressed days; returns where they end."""
    until: datetime = await conn.fetchval(QUERIES["copied_until"])
    if keep and await conn.fetchval("SELECT to_regclass('bench_plate_copy') IS NOT NULL"):
        print(f"copy kept from an earlier run, reads before {until:%Y-%m-%d}")
        return until
    await conn.execute(QUERIES["drop_copy"])
    await conn.execute(QUERIES["create_copy"].replace("$1::interval", f"'{interval}'::interval"))
    start = time.perf_counter()
    await conn.execute(QUERIES["fill_copy"], until)
    filled = time.perf_counter()
    chunks = await conn.fetchval(QUERIES["compress_copy"])
    done = time.perf_counter()
    sized = await conn.fetchrow(QUERIES["copy_size"])
    assert sized is not None
    size, reads = sized
    print(
        f"copy: {reads:,} reads before {until:%Y-%m-%d} in {chunks} chunks of {interval},"
        f" {size / reads:.0f} bytes a read; filled in {filled - start:.0f} s,"
        f" compressed in {done - filled:.0f} s"
    )
    return until


async def pages(
    urls: dict[str, str], until: datetime, interval: str, count: int, passes: int
) -> None:
    conns = {way: await asyncpg.connect(url, statement_cache_size=0) for way, url in urls.items()}
    try:
        await conns["copy"].execute(QUERIES["copy_page_function"].replace("{interval}", interval))
        await conns["rows"].execute("SELECT setseed(0.3)")
        plates = {
            kind: [r[0] for r in await conns["rows"].fetch(QUERIES[f"{kind}_plates"], count, until)]
            for kind in ("regular", "random")
        }
        for n in range(1, passes + 1):
            print(f"\npass {n}: pages of 20, p50 / p99 ms (against the uncompressed walk)")
            for kind, sample in plates.items():
                timings = await _pages(conns, sample, until)
                ref = timings["rows"]
                for way, ms in timings.items():
                    p50, p99 = _p(ms, 0.5), _p(ms, 0.99)
                    print(
                        f"  {kind:8s} {way:10s} {p50:7.2f} / {p99:7.2f}"
                        f"   {p50 / _p(ref, 0.5):.2f}x / {p99 / _p(ref, 0.99):.2f}x"
                    )
    finally:
        for conn in conns.values():
            await conn.close()


async def _pages(
    conns: dict[str, asyncpg.Connection[Any]], sample: list[str], until: datetime
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {way: [] for way in WAYS}
    for plate in sample:
        found = {}
        for way, query in WAYS.items():
            start = time.perf_counter()
            rows = await conns[way].fetch(QUERIES[query], plate, until)
            timings[way].append((time.perf_counter() - start) * 1000)
            found[way] = [r[0] for r in rows]
        if not found["rows"] == found["compressed"] == found["copy"]:
            raise AssertionError(f"the ways disagree on {plate}")
    return timings


async def late_reads(conn: asyncpg.Connection[Any], until: datetime, count: int) -> None:
    keys = await conn.fetch(QUERIES["late_samples"], count, until)
    print(f"\none late read into a compressed chunk, rolled back, {len(keys)} reads, p50 / p99 ms")
    for table in ("plate_events", "bench_plate_copy"):
        statement = QUERIES["late_read"].replace("{table}", table)
        timings = []
        for key in keys:
            tx = conn.transaction()
            await tx.start()
            start = time.perf_counter()
            await conn.execute(statement, key["event_id"], key["captured_at"])
            timings.append((time.perf_counter() - start) * 1000)
            await tx.rollback()
        print(f"  {table:18s} {_p(timings, 0.5):7.2f} / {_p(timings, 0.99):7.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", required=True, help="the uncompressed year")
    parser.add_argument("--compressed", required=True, help="the same year, compressed")
    parser.add_argument("--interval", default="30 days", help="the copy's chunk interval")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the copy")
    args = parser.parse_args()
    conn = await asyncpg.connect(args.compressed)
    try:
        until = await build(conn, args.interval, args.keep)
        urls = {"rows": args.rows, "compressed": args.compressed, "copy": args.compressed}
        await pages(urls, until, args.interval, args.samples, args.passes)
        await late_reads(conn, until, args.samples)
        if not args.keep:
            await conn.execute(QUERIES["drop_copy"])
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
