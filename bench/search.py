"""Benchmark plate search: exact, wildcard and fuzzy over `plates`, next to a
naive `LIKE '%…%'` over `plate_events` in the same run.

    .venv/bin/python bench/search.py --admin-url postgresql://postgres@127.0.0.1:55432/postgres \
        --plates 1000000 --reads 10000000

Creates a fresh database on the server (dropped afterwards unless --keep),
migrates it, loads `plates`, `plate_cameras` and `plate_events` directly
with COPY (this measures search, not ingest; the true plates and their OCR
misreads are distinct plates, as in production), then times each kind of
search and prints p50/p99 in milliseconds. Targets: exact < 10 ms p99,
wildcard and fuzzy < 50 ms p99. `--existing URL` times the searches again on
a database a `--keep` run loaded (loading 10 M reads takes most of an hour
on two busy cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import string
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.migrate import migrate
from gateway.plate_search import SearchLimits, _candidates, _details, _fuzzy, search_plates
from schema.plate_match import SearchFilter, SearchMode, deletions, verify
from schema.plates import OCR_CONFUSION_CLASSES, plate_skeleton

FORMATS = ("LLLDDDD", "DLLLDDD", "LLDDLLL", "DDDLLL", "LLLDDD", "LDDDLL", "DDLLDD")
_CLASS = {c: sorted(group - {c}) for group in OCR_CONFUSION_CLASSES for c in group}
_ALNUM = string.ascii_uppercase + string.digits
QUERIES = {
    block.split("\n", 1)[0].strip(): block.split("\n", 1)[1].strip()
    for block in (Path(__file__).with_suffix(".sql").read_text().split("-- name: ")[1:])
}
MISREAD_SHARE = 0.1  # share of distinct plates that are misreads of another


def _plate(rng: random.Random) -> str:
    layout = rng.choice(FORMATS)
    return "".join(
        rng.choice(string.ascii_uppercase if c == "L" else string.digits) for c in layout
    )


def _misread(plate: str, rng: random.Random) -> str:
    chars = list(plate)
    confusable = [i for i, c in enumerate(chars) if c in _CLASS]
    if confusable and rng.random() < 0.8:
        i = rng.choice(confusable)
        chars[i] = rng.choice(_CLASS[chars[i]])
    else:
        chars[rng.randrange(len(chars))] = rng.choice(_ALNUM)
    if rng.random() < 0.2:
        del chars[rng.randrange(len(chars))]
    return "".join(chars)


def make_plates(count: int, rng: random.Random) -> list[str]:
    plates: set[str] = set()
    true_count = int(count * (1 - MISREAD_SHARE))
    while len(plates) < true_count:
        plates.add(_plate(rng))
    truth = list(plates)
    while len(plates) < count:
        plates.add(_misread(rng.choice(truth), rng))
    return list(plates)


def _read_rows(plates: list[str], reads: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    now = datetime.now(UTC)
    for n in range(reads):
        plate = plates[n % len(plates)] if n < len(plates) else rng.choice(plates)
        at = now - timedelta(seconds=rng.randrange(6 * 86_400))
        camera = f"cam-{rng.randrange(200):03d}"
        yield (uuid.uuid4(), at, camera, "t-1", plate, plate, 0.9, "US-FL", f"site-{camera[-1]}")


async def load(conn: asyncpg.Connection[Any], plates: list[str], reads: int, seed: int) -> None:
    """Fill plate_events, then plates and plate_cameras from them in SQL."""
    rng = random.Random(seed)
    columns = (
        "event_id captured_at camera_id track_id plate_text plate_normalized_text "
        "plate_confidence plate_region site_id"
    ).split()
    rows = _read_rows(plates, reads, rng)
    while chunk := [r for _, r in zip(range(200_000), rows, strict=False)]:
        await conn.copy_records_to_table("plate_events", records=chunk, columns=columns)
    await conn.execute(QUERIES["fill_plate_cameras"])
    await conn.execute(QUERIES["fill_plates"])
    for table in ("plates", "plate_cameras", "plate_events"):
        await conn.execute(f"VACUUM ANALYZE {table}")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(
    label: str, queries: list[str], run: Callable[[str], Awaitable[Any]]
) -> tuple[float, float]:
    for query in queries[:3]:  # warm the plan cache and the buffers
        await run(query)
    samples = []
    for query in queries:
        started = time.perf_counter()
        await run(query)
        samples.append((time.perf_counter() - started) * 1000)
    p50, p99 = statistics.median(samples), _percentile(samples, 0.99)
    print(f"{label:<28} n={len(samples):<5} p50={p50:8.2f} ms  p99={p99:8.2f} ms")
    return p50, p99


def _two_plain_edits(plate: str, rng: random.Random) -> str:
    chars = list(plate)
    for _ in range(2):
        kind = rng.choice(("sub", "ins", "del"))
        at = rng.randrange(len(chars) + (kind == "ins"))
        if kind == "sub":
            chars[at] = rng.choice(_ALNUM)
        elif kind == "ins":
            chars.insert(at, rng.choice(_ALNUM))
        else:
            del chars[at]
    return "".join(chars)


async def _fuzzy_before(pool: Any, query: str) -> set[str]:
    """Fuzzy search as it was before the plate side's second deletion was
    spelled by the query: the query's deletions up to two deep plus trigram
    similarity at 0.3 (same SQL, same verification)."""
    keys = sorted(deletions(plate_skeleton(query), 2))
    limits = SearchLimits()
    rows = await _candidates(pool, keys, query, limits, True)
    scores = verify(query, [r["plate_normalized_text"] for r in rows], limits.max_distance)
    return {m.plate for m in await _details(pool, list(scores), SearchFilter(), scores)}


async def _fuzzy_now(pool: Any, query: str) -> set[str]:
    matches, _ = await _fuzzy(pool, query, SearchFilter(), SearchLimits())
    return {m.plate for m in matches}


async def compare_fuzzy(pool: Any, plates: list[str], count: int, rng: random.Random) -> None:
    """Before and after on the same queries, alternating, each returning all
    its matches: latency, and how often the plate the query was made from
    is found (every such plate is within distance 2, so 1.0 is complete)."""
    picks = [rng.choice(plates) for _ in range(count)]
    for label, make in (("misread", _misread), ("two plain edits", _two_plain_edits)):
        pairs = [(p, q) for p in picks if len(q := make(p, rng)) >= 3]
        times: dict[str, list[float]] = {"before": [], "after": []}
        found: dict[str, int] = {"before": 0, "after": 0}
        missed_by_after = 0
        for plate, query in pairs:
            results = {}
            for name, run in (("before", _fuzzy_before), ("after", _fuzzy_now))[
                :: rng.choice((1, -1))
            ]:
                started = time.perf_counter()
                results[name] = await run(pool, query)
                times[name].append((time.perf_counter() - started) * 1000)
                if times[name][-1] > 1000:
                    print(f"slow: {name} {query!r} {times[name][-1]:.0f} ms")
                found[name] += plate in results[name]
            missed_by_after += len(results["before"] - results["after"])
        for name in ("before", "after"):
            p50, p99 = statistics.median(times[name]), _percentile(times[name], 0.99)
            print(
                f"fuzzy {label:<16} {name:<6} n={len(pairs):<5} "
                f"p50={p50:8.2f} ms  p99={p99:8.2f} ms  "
                f"source found {found[name] / len(pairs):.3f}"
            )
        print(f"fuzzy {label:<16} plates found before but not after: {missed_by_after}")


def _queries(plates: list[str], count: int, rng: random.Random) -> dict[str, list[str]]:
    picks = [rng.choice(plates) for _ in range(count)]
    return {
        "exact": picks,
        "wildcard leading (ABC*)": [p[:3] + "*" for p in picks],
        "wildcard trailing (*123)": ["*" + p[-3:] for p in picks],
        "wildcard middle (frag)": [p[1:5] for p in picks],
        "wildcard ? (A?C12*)": [p[0] + "?" + p[2:5] + "*" for p in picks],
        "fuzzy (misread)": [_misread(p, rng) for p in picks],
    }


async def bench(url: str, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    conn = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        if args.existing:
            plates = [r[0] for r in await conn.fetch(QUERIES["all_plates"])]
            print(f"{len(plates)} plates already loaded")
        else:
            started = time.perf_counter()
            plates = make_plates(args.plates, rng)
            await load(conn, plates, args.reads, args.seed)
            print(
                f"loaded {args.reads} reads, {len(plates)} plates in "
                f"{time.perf_counter() - started:.0f} s"
            )
        if args.compare_fuzzy:
            await compare_fuzzy(pool, plates, args.queries, rng)
            return
        modes = {"exact": SearchMode.EXACT, "fuzzy (misread)": SearchMode.FUZZY}
        results = {}
        # Two shared cores: other people's jobs move the tail; say how busy.
        load_before = os.getloadavg()[0]
        for label, queries in _queries(plates, args.queries, rng).items():
            mode = modes.get(label, SearchMode.WILDCARD)

            async def run(q: str, mode: SearchMode = mode) -> Any:
                return await search_plates(pool, q, mode, first=20)

            results[label] = await timed(label, queries, run)
        fragments = [p[1:5] for p in rng.sample(plates, args.naive_queries)]

        async def naive(fragment: str) -> Any:
            return await conn.fetch(QUERIES["naive_like"], f"%{fragment}%")

        naive_p50, _ = await timed("naive LIKE over plate_events", fragments, naive)
        ours = results["wildcard middle (frag)"][0]
        print(f"naive / indexed wildcard (p50): {naive_p50 / ours:.0f}x")
        print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    finally:
        await pool.close()
        await conn.close()


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def main(args: argparse.Namespace) -> None:
    if args.existing:
        await bench(args.existing, args)
        return
    name = f"alpr_bench_search_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(args.admin_url, name)
    try:
        await migrate(url, args.engine)
        await bench(url, args)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", help="superuser URL of a server to load a new database")
    parser.add_argument("--existing", help="URL of a database a --keep run loaded: no loading")
    parser.add_argument("--engine", default="auto", choices=["auto", "postgres", "timescaledb"])
    parser.add_argument("--plates", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--naive-queries", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--compare-fuzzy",
        action="store_true",
        help="only fuzzy: before/after the complete keys, alternating, with completeness",
    )
    args = parser.parse_args()
    if not (args.admin_url or args.existing):
        parser.error("give --admin-url or --existing")
    return args


if __name__ == "__main__":
    asyncio.run(main(_args()))
