"""`alpr hotlist import` of a state's stolen-vehicle extract: time and memory.

Writes two daily extracts of N rows in the extract's own columns (LIC, LIS,
LIT, LIY, NIC, ORI, OCA, MKE): day 2 drops 1% of day 1's plates, changes the
case number of 1% and adds 1% new ones. Into a fresh database, as the
`alpr` command runs them: day 1 into an empty list, then day 2 with
--replace. For each: wall time, the command's CPU time and its peak memory
(max RSS), and the diff it reported.

    .venv/bin/python bench/hotlist_import.py --rows 1000000 \
        --database-url postgresql://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

STATES = ("CA", "NV", "TX", "FL", "NY", "WA", "OR", "AZ")
HEADER = "LIC,LIS,LIT,LIY,NIC,ORI,OCA,MKE\n"


def write_extract(path: Path, first: int, rows: int, changed_every: int | None) -> None:
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(first, first + rows):
            case = f"25-{i:07d}" if changed_every and i % changed_every == 5 else f"24-{i:07d}"
            out.write(f"P{i:07d},{STATES[i % 8]},PC,{2025 + i % 4},V{i:09d},CA0194200,{case},KV\n")


def run(url: str, *args: str) -> tuple[float, float, float, str]:
    """(wall s, CPU s, max RSS MiB, output) of one `alpr` command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "alpr", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ALPR_DATABASE_URL": url, "ALPR_LOG_LEVEL": "WARNING"},
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, done.stdout.strip()


async def fresh_database(admin_url: str) -> str:
    name = f"alpr_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="a superuser URL")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    url = asyncio.run(fresh_database(args.database_url))
    with tempfile.TemporaryDirectory() as tmp:
        day1, day2 = Path(tmp) / "day1.csv", Path(tmp) / "day2.csv"
        write_extract(day1, 0, args.rows, None)
        write_extract(day2, args.rows // 100, args.rows, 100)
        run(url, "migrate")
        run(url, "hotlist", "create", "ncic", "--source", "ncic", "--max-age", "26h")
        for label, path in (("day 1, empty list", day1), ("day 2, --replace", day2)):
            wall, cpu, rss, out = run(
                url,
                "hotlist",
                "import",
                str(path),
                "--list",
                "ncic",
                "--replace",
                "--reason",
                "stolen",
            )
            print(f"{label}: wall {wall:.1f} s, CPU {cpu:.1f} s, max RSS {rss:.0f} MiB")
            print(f"  {out}")


if __name__ == "__main__":
    main()
