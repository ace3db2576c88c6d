"""Bulk import and backup/restore, beside their baselines, in one run.

The same N synthetic reads (`ingestor.simulate`), each way into a fresh
database with the whole schema:

  writer   the decoded events handed straight to `ingestor.writer.Writer.write`
           from memory (the write path alone: no file, no parsing)
  kafka    the ingestor's Kafka source over the same reads (bench/ingest.py's
           `ours`; --no-kafka skips it)
  import   `alpr import`'s `ingestor.sources.files.import_file` over an NDJSON file
           (gzip with --gzip)

The target: import at no less than half the Kafka ingest rate. Then, on the
imported database: `alpr backup` and `alpr restore` into an empty one,
beside a plain `pg_dump | pg_restore` of the same database (their baseline).

    .venv/bin/python bench/import.py --events 20000
    .venv/bin/python bench/import.py --events 1000000 --gzip

PostgreSQL: --database-url (a superuser URL; databases are created per run)
or an embedded server. Kafka: --bootstrap or a broker started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.util
import itertools
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alpr.backup import _server_major, _split_password, backup, find_tool, restore  # noqa: E402
from core.settings import IngestorSettings  # noqa: E402
from ingestor.simulate import Simulation, SimulationConfig  # noqa: E402
from ingestor.sources.files import import_file  # noqa: E402
from ingestor.writer import Writer  # noqa: E402
from schema.events import decode_event  # noqa: E402


def _ingest_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest = _ingest_bench()


async def bench_writer(url: str, payloads: list[bytes], batch: int) -> float:
    events = [decode_event(p) for p in payloads]  # decoding is not counted here
    conn = await asyncpg.connect(url)
    writer = Writer()
    try:
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            await writer.write(conn, events[i : i + batch])
        return len(events) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def bench_import(url: str, path: Path, batch: int, n: int) -> float:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        started = time.perf_counter()
        report = await import_file(pool, path, batch_size=batch, restart=True)
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    assert report.stored == n, report
    return n / elapsed


def plain_dump_restore(
    source: str, target: str, archive: Path, server_major: int
) -> tuple[float, float]:
    """The baseline: pg_dump -Fc and pg_restore, no progress, no checksum."""
    src_url, env = _split_password(source)
    dst_url, _ = _split_password(target)
    dump = find_tool("pg_dump", server_major)
    started = time.perf_counter()
    subprocess.run([str(dump.path), "-Fc", f"--file={archive}", src_url], env=env, check=True)
    dumped = time.perf_counter() - started
    started = time.perf_counter()
    rest = find_tool("pg_restore", dump.major)
    subprocess.run(
        [str(rest.path), "--no-owner", f"--dbname={dst_url}", str(archive)], env=env, check=False
    )
    return dumped, time.perf_counter() - started


async def bench_backup(admin: str, url: str, tmp: Path) -> None:
    archive = tmp / "bench.dump"
    made = await backup(url, archive, lambda *_: None)
    empty = await _empty_database(admin)
    try:
        restored_s = await restore(empty, archive, lambda *_: None)
    finally:
        await ingest.drop_database(admin, empty)
    empty = await _empty_database(admin)
    try:
        major = await _server_major(url)
        dumped_s, plain_restore_s = plain_dump_restore(url, empty, tmp / "plain.dump", major)
    finally:
        await ingest.drop_database(admin, empty)
    size_mib = made.size_bytes / 2**20
    print(f"backup   {made.seconds:8.1f} s  ({size_mib:.0f} MiB)   pg_dump alone {dumped_s:.1f} s")
    print(f"restore  {restored_s:8.1f} s                pg_restore alone {plain_restore_s:.1f} s")


async def _empty_database(admin: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    name = f"alpr_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))


async def run(args: argparse.Namespace, admin: str, bootstrap: str | None, tmp: Path) -> None:
    sim = Simulation(SimulationConfig(cameras=args.cameras, plates=args.plates, seed=7))
    messages = list(itertools.islice(sim.messages(), args.events))
    payloads = [value for value, _ in messages]
    path = tmp / ("reads.ndjson.gz" if args.gzip else "reads.ndjson")
    opener: Any = gzip.open if args.gzip else open
    with opener(path, "wb") as f:
        for payload in payloads:
            f.write(payload + b"\n")
    print(f"events={args.events} file={path.name} {path.stat().st_size / 2**20:.0f} MiB")

    results: dict[str, float] = {}
    url = await ingest.fresh_database(admin)
    try:
        results["writer"] = await bench_writer(url, payloads, args.batch)
    finally:
        await ingest.drop_database(admin, url)
    print(f"writer   {results['writer']:>10,.0f} reads/s")
    if bootstrap is not None:
        topic = f"bench-import-{uuid.uuid4().hex}"
        await ingest.produce(bootstrap, topic, messages)
        url = await ingest.fresh_database(admin)
        try:
            results["kafka"] = await ingest.bench_ours(
                url, bootstrap, topic, args.events, args.batch, IngestorSettings().ingest_writers
            )
        finally:
            await ingest.drop_database(admin, url)
        print(f"kafka    {results['kafka']:>10,.0f} reads/s")
    url = await ingest.fresh_database(admin)
    try:
        results["import"] = await bench_import(url, path, args.batch, args.events)
        print(f"import   {results['import']:>10,.0f} reads/s")
        print(f"import / writer = {results['import'] / results['writer']:.0%}")
        if "kafka" in results:
            ratio = results["import"] / results["kafka"]
            print(f"import / kafka  = {ratio:.0%} (target: at least 50%)")
        if not args.no_backup:
            await bench_backup(admin, url, tmp)
    finally:
        await ingest.drop_database(admin, url)


async def main(args: argparse.Namespace) -> None:
    server = broker = None
    if args.database_url:
        admin = args.database_url
    else:
        from core.embedded import server_uri, start_server

        server = start_server(Path(tempfile.mkdtemp(prefix="alpr-bench-pg-")))
        admin = server_uri(server, "postgres")
    bootstrap: str | None = None
    if not args.no_kafka:
        if args.bootstrap:
            bootstrap = args.bootstrap
        else:
            from tests.support.kafka_broker import ensure_broker

            broker = ensure_broker()
            bootstrap = broker.bootstrap_servers
    try:
        with tempfile.TemporaryDirectory(prefix="alpr-bench-import-") as tmp:
            await run(args, admin, bootstrap, Path(tmp))
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.cleanup()


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--plates", type=int, default=50_000)
    p.add_argument("--gzip", action="store_true", help="import a gzip file")
    p.add_argument("--no-kafka", action="store_true", help="skip the Kafka comparison")
    p.add_argument("--no-backup", action="store_true", help="skip backup/restore timing")
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    p.add_argument("--bootstrap", help="Kafka bootstrap; default: start one")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
