"""Benchmark the in-memory indexes of `schema.fuzzy` that match each stored
read against watch-list entries: build time, and time per read, beside the
naive loop over every entry in the same run.

    .venv/bin/python bench/fuzzy_index.py --entries 10000 --reads 5000

Entries are random plates in common layouts; reads are random plates too,
with a share of them misreads of an entry (so hits are exercised). Times are
CPU seconds of this process (`time.process_time`): the development machine
is shared, and wall time there measures the neighbours.
"""

from __future__ import annotations

import argparse
import itertools
import random
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schema.fuzzy import FuzzyIndex, WildcardIndex
from schema.plate_match import ocr_distance, parse_wildcard

FORMATS = ("LLLDDDD", "DLLLDDD", "LLDDLLL", "DDDLLL", "LLLDDD", "LDDDLL", "DDLLDD")
_ALNUM = string.ascii_uppercase + string.digits


def _plate(rng: random.Random) -> str:
    layout = rng.choice(FORMATS)
    return "".join(
        rng.choice(string.ascii_uppercase if c == "L" else string.digits) for c in layout
    )


def _misread(plate: str, rng: random.Random) -> str:
    chars = list(plate)
    chars[rng.randrange(len(chars))] = rng.choice(_ALNUM)
    return "".join(chars)


def _pattern(rng: random.Random) -> str:
    plate = _plate(rng)
    shape = rng.choice(("prefix", "suffix", "mask"))
    if shape == "prefix":
        return plate[: rng.randint(3, 5)] + "*"
    if shape == "suffix":
        return "*" + plate[-rng.randint(3, 4) :]
    chars = list(plate)
    for i in rng.sample(range(len(chars)), 2):
        chars[i] = "?"
    return "".join(chars)


def _per_read(reads: list[str], lookup: Callable[[str], Any]) -> tuple[float, int]:
    started = time.process_time()
    hits = sum(len(lookup(read)) for read in reads)
    return (time.process_time() - started) / len(reads) * 1e6, hits


def _reads(args: argparse.Namespace, entries: dict[int, str], rng: random.Random) -> list[str]:
    """Random plates, a tenth of them misreads of an entry; or, with --zipf,
    plates drawn from a pool of 200,000 by popularity 1/rank, as a camera
    sees them (a vehicle comes back and is read several times a pass)."""
    if args.zipf:
        pool = [_plate(rng) for _ in range(200_000)]
        weights = list(itertools.accumulate(1 / (i + 1) for i in range(len(pool))))
        return rng.choices(pool, cum_weights=weights, k=args.reads)
    return [
        _misread(entries[rng.randrange(args.entries)], rng) if rng.random() < 0.1 else _plate(rng)
        for _ in range(args.reads)
    ]


def fuzzy(args: argparse.Namespace, max_cost: float, rng: random.Random) -> None:
    entries = {n: _plate(rng) for n in range(args.entries)}
    index: FuzzyIndex[int] = FuzzyIndex()
    started = time.process_time()
    for n, plate in entries.items():
        index.add(n, plate, max_cost)
    build = time.process_time() - started
    reads = _reads(args, entries, rng)
    per_read, hits = _per_read(reads, index.lookup)
    naive_reads = reads[: args.naive_reads]

    def naive(read: str) -> list[int]:
        return [n for n, p in entries.items() if ocr_distance(p, read, max_cost) is not None]

    naive_per_read, _ = _per_read(naive_reads, naive)
    print(
        f"fuzzy    max cost {max_cost:<4} entries={args.entries} build={build:6.2f} s  "
        f"lookup={per_read:8.1f} us/read  hits/read={hits / len(reads):.3f}  "
        f"naive loop={naive_per_read / 1000:8.1f} ms/read ({naive_per_read / per_read:.0f}x)"
    )


def wildcard(args: argparse.Namespace, rng: random.Random) -> None:
    patterns = {n: _pattern(rng) for n in range(args.entries)}
    index: WildcardIndex[int] = WildcardIndex()
    started = time.process_time()
    for n, pattern in patterns.items():
        index.add(n, pattern)
    build = time.process_time() - started
    reads = [_plate(rng) for _ in range(args.reads)]
    per_read, hits = _per_read(reads, index.lookup)
    compiled = {n: parse_wildcard(p) for n, p in patterns.items()}

    def naive(read: str) -> list[int]:
        return [n for n, p in compiled.items() if p.matches(read)]

    naive_per_read, _ = _per_read(reads[: args.naive_reads * 10], naive)
    print(
        f"wildcard entries={args.entries} build={build:6.2f} s  "
        f"lookup={per_read:8.1f} us/read  hits/read={hits / len(reads):.3f}  "
        f"naive loop={naive_per_read / 1000:8.1f} ms/read ({naive_per_read / per_read:.0f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--naive-reads", type=int, default=20)
    parser.add_argument("--costs", default="0.75,1,2,3", help="maximum costs to try")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--zipf", action="store_true", help="reads by popularity (see _reads)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for cost in args.costs.split(","):
        fuzzy(args, float(cost), rng)
    wildcard(args, rng)


if __name__ == "__main__":
    main()
