"""A plate page's day statements: planned for each page (alpr_reads, as the
gateway reads) against prepared once per connection with a generic plan
(bench/day_plans.sql), on years bench/history.py built.

    .venv/bin/python bench/day_plans.py \
        --database ts=postgresql://postgres@127.0.0.1:55432/alpr_y5m_ts \
        --database tsz=postgresql://postgres@127.0.0.1:55432/alpr_y5m_tsz

Each database gets two fresh connections, one per way; every sampled plate
is read one way then the other, two passes (the first prepares and loads
the chunks, the second is warm), and both ways must return the same reads.
Prints p50 / p99 ms of pages of 20 for plates read on at least 20 days and
for random plates, the prepared way's speed-up, the ratio between the
databases (the first is the reference), and the memory the prepared
statements hold per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.history import _p  # the same nearest-rank quantile as history.py reports

QUERIES = {
    block.split("\n", 1)[0].strip(): block.split("\n", 1)[1].strip()
    for block in (Path(__file__).with_suffix(".sql").read_text().split("-- name: ")[1:])
}
WAYS = ("current_page", "prepared_page")
PAGE = 20


async def _timed(conn: asyncpg.Connection[Any], way: str, plate: str) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    rows = await conn.fetch(QUERIES[way], plate, PAGE)
    return (time.perf_counter() - start) * 1000, [r[0] for r in rows]


async def _samples(url: str, count: int, seed: float) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT setseed($1)", seed)
        return {
            kind: [r[0] for r in await conn.fetch(QUERIES[f"{kind}_plates"], count)]
            for kind in ("regular", "random")
        }
    finally:
        await conn.close()


async def measure(url: str, plates: dict[str, list[str]], passes: int) -> dict[Any, list[float]]:
    """Timings keyed (pass, kind, way); raises if the ways disagree."""
    conns = {way: await asyncpg.connect(url, statement_cache_size=0) for way in WAYS}
    try:
        await conns["prepared_page"].execute(QUERIES["prepared_walk"])
        timings: dict[Any, list[float]] = {}
        for n in range(1, passes + 1):
            for kind, sample in plates.items():
                for plate in sample:
                    pages = {}
                    for way in WAYS:
                        ms, pages[way] = await _timed(conns[way], way, plate)
                        timings.setdefault((n, kind, way), []).append(ms)
                    if pages["current_page"] != pages["prepared_page"]:
                        raise AssertionError(f"the ways disagree on {plate}")
        memory = await conns["prepared_page"].fetchrow(QUERIES["plan_memory"])
        assert memory is not None
        plan_bytes, statements = memory
        print(f"  prepared: {statements} day statements, {plan_bytes / 2**20:.1f} MiB of plans")
        return timings
    finally:
        for conn in conns.values():
            await conn.close()


def report(results: dict[str, dict[Any, list[float]]], passes: int) -> None:
    names = list(results)
    for n in range(1, passes + 1):
        print(f"\npass {n}: p50 / p99 ms, prepared / current at p50")
        for kind in ("regular", "random"):
            for name in names:
                cur, pre = (results[name][(n, kind, way)] for way in WAYS)
                print(
                    f"  {kind:8s} {name:6s} current {_p(cur, 0.5):6.2f} / {_p(cur, 0.99):6.2f}"
                    f"   prepared {_p(pre, 0.5):6.2f} / {_p(pre, 0.99):6.2f}"
                    f"   {_p(pre, 0.5) / _p(cur, 0.5):.2f}x"
                )
            for name in names[1:]:
                for way in WAYS:
                    mine, ref = results[name][(n, kind, way)], results[names[0]][(n, kind, way)]
                    p50, p99 = (_p(mine, q) / _p(ref, q) for q in (0.5, 0.99))
                    print(f"  {kind:8s} {name}/{names[0]} {way:14s} {p50:.2f}x / {p99:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", action="append", required=True, help="name=url")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seed", type=float, default=0.3)
    args = parser.parse_args()
    databases = dict(d.split("=", 1) for d in args.database)
    plates = await _samples(next(iter(databases.values())), args.samples, args.seed)
    results = {}
    for name, url in databases.items():
        print(f"{name}: {len(plates['regular'])} regular and {len(plates['random'])} random plates")
        results[name] = await measure(url, plates, args.passes)
    report(results, args.passes)


if __name__ == "__main__":
    asyncio.run(main())
