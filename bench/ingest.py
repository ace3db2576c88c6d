"""Ingest throughput and latency, beside its ceiling and the naive design, in one run.

Three ways to store the same N synthetic reads, each into a fresh database
with the full schema (all five indexes):

  ceiling  the rows COPYed straight from memory with asyncpg (no Kafka, no parsing)
  naive    a Kafka consumer with auto-commit inserting one row per message
           (the storage-layer document's design)
  ours     the ingestor's Kafka source: batches, staging COPY, rollups, commits
           (ours-wN: N batches written at once; the default is the ingestor's)

then the produce-to-stored latency of ours at a steady rate (p50/p99, from
the producer's send to the NOTIFY of the committed batch).

    .venv/bin/python bench/ingest.py --events 20000 --naive-events 5000
    .venv/bin/python bench/ingest.py --events 1000000 --naive-events 100000 --latency-s 30

PostgreSQL: --database-url (a superuser URL; a database is created per run)
or an embedded server. Kafka: --bootstrap or a broker started by
scripts/kafka.sh for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import migrate
from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.simulate import Simulation, SimulationConfig
from ingestor.sources.kafka import KafkaSource
from ingestor.writer import NOTIFY_CHANNEL
from schema.events import COLUMNS, decode_event

INSERT_ONE = (
    f"INSERT INTO plate_events ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))}) "
    "ON CONFLICT (event_id, captured_at) DO NOTHING"
)


async def fresh_database(admin_url: str) -> str:
    name = f"alpr_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    await migrate(url, "auto")
    return url


async def drop_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
    finally:
        await conn.close()


async def produce(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes | None]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(payloads), 10_000):
            chunk = payloads[start : start + 10_000]
            acks = [await producer.send(topic, value=v, key=k) for v, k in chunk]
            await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM plate_events"))
    finally:
        await conn.close()


async def bench_ceiling(url: str, payloads: list[tuple[bytes, bytes | None]]) -> float:
    rows = [decode_event(v).as_row() for v, _ in payloads]  # parsing is not timed
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), 5000):
            await conn.copy_records_to_table(
                "plate_events", records=rows[i : i + 5000], columns=COLUMNS
            )
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    assert await count_rows(url) == len(rows)
    return len(rows) / elapsed


async def bench_naive(url: str, bootstrap: str, topic: str, n: int) -> float:
    """One INSERT per message, auto-commit on both sides."""
    conn = await asyncpg.connect(url)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"naive-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    done = 0
    started = None
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    if done >= n:
                        break
                    started = started or time.perf_counter()
                    event = decode_event(record.value)
                    await conn.execute(INSERT_ONE, *event.as_row())
                    done += 1
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await conn.close()
    return n / elapsed


async def bench_ours(
    url: str, bootstrap: str, topic: str, n: int, batch_size: int, writers: int
) -> float:
    settings = IngestorSettings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic=topic,
        kafka_group_id=f"ours-{uuid.uuid4().hex}",
        kafka_auto_offset_reset="earliest",
        dlq_topic=f"{topic}.dlq",
        http_enabled=False,
        ingestor_metrics_port=None,
        batch_size=batch_size,
        batch_max_age_ms=200,
    )
    pool = await asyncpg.create_pool(url, min_size=1, max_size=max(writers, 2))
    stats = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats, writers=writers).run(stop))
    try:
        while stats.consumed == 0:  # group join is not ingest time
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while stats.stored + stats.duplicates < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await task
        await pool.close()
    assert await count_rows(url) == n
    return n / elapsed


async def bench_latency(url: str, bootstrap: str, rate: int, seconds: float) -> list[float]:
    """Send at `rate`/s for `seconds`; latency = NOTIFY of the batch - send time."""
    topic = f"bench-latency-{uuid.uuid4().hex}"
    settings = IngestorSettings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        kafka_topic=topic,
        kafka_group_id=f"lat-{uuid.uuid4().hex}",
        kafka_auto_offset_reset="earliest",
        dlq_topic=f"{topic}.dlq",
        http_enabled=False,
        ingestor_metrics_port=None,
    )
    sim = Simulation(SimulationConfig(seed=99))
    sent_at: dict[uuid.UUID, float] = {}
    latencies: list[float] = []
    listener = await asyncpg.connect(url)
    batches: asyncio.Queue[int] = asyncio.Queue()
    await listener.add_listener(NOTIFY_CHANNEL, lambda *a: batches.put_nowait(int(a[3])))
    reader = await asyncpg.connect(url)

    async def collect() -> None:
        while True:
            batch_id = await batches.get()
            heard = time.perf_counter()
            ids = await reader.fetchval(
                "SELECT event_ids FROM stored_batches WHERE batch_id = $1", batch_id
            )
            latencies.extend(heard - sent_at[i] for i in ids if i in sent_at)

    # Warm up: topic created, group joined, before the clock runs.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    await producer.start()
    await producer.send_and_wait(topic, orjson.dumps(sim.event()), key=b"warm")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    stats = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
    collector = asyncio.create_task(collect())
    while stats.stored < 1:
        await asyncio.sleep(0.01)
    try:
        total = int(rate * seconds)
        started = time.perf_counter()
        for k in range(total):
            event = sim.event()
            sent_at[uuid.UUID(event["event_id"])] = time.perf_counter()
            await producer.send(topic, orjson.dumps(event), key=event["camera_id"].encode())
            ahead = (k + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        deadline = time.perf_counter() + 30
        while len(latencies) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
    finally:
        collector.cancel()
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await listener.close()
        await reader.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


async def main(args: argparse.Namespace) -> None:
    server = None
    if args.database_url:
        admin = args.database_url
    else:
        from core.embedded import server_uri, start_server

        tmp = tempfile.mkdtemp(prefix="alpr-bench-pg-")
        server = start_server(Path(tmp))
        admin = server_uri(server, "postgres")
    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        from tests.support.kafka_broker import ensure_broker

        broker = ensure_broker()
        bootstrap = broker.bootstrap_servers
    try:
        await run(args, admin, bootstrap)
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.cleanup()


async def run(args: argparse.Namespace, admin: str, bootstrap: str) -> None:
    sim = Simulation(SimulationConfig(cameras=args.cameras, plates=args.plates, seed=1))
    payloads = [(v, k) for v, k in itertools.islice(sim.messages(), args.events)]
    topic = f"bench-ingest-{uuid.uuid4().hex}"
    produce_s = await produce(bootstrap, topic, payloads)
    print(f"events={args.events} produced in {produce_s:.1f}s (not counted)")

    results: dict[str, float] = {}
    ours = [f"ours-w{w}" for w in args.writers]
    for name in ("ceiling", "naive", *ours):
        url = await fresh_database(admin)
        try:
            if name == "ceiling":
                results[name] = await bench_ceiling(url, payloads)
            elif name == "naive":
                n = min(args.naive_events or args.events, args.events)
                results[name] = await bench_naive(url, bootstrap, topic, n)
            else:
                writers = int(name.removeprefix("ours-w"))
                results[name] = await bench_ours(
                    url, bootstrap, topic, args.events, args.batch, writers
                )
        finally:
            await drop_database(admin, url)
        print(f"{name:8s} {results[name]:>10,.0f} events/s")
    for name in ours:
        print(f"{name} / ceiling = {results[name] / results['ceiling']:.0%}")
        print(f"{name} / naive   = {results[name] / results['naive']:.1f}x")

    if args.latency_s > 0:
        url = await fresh_database(admin)
        try:
            lat = await bench_latency(url, bootstrap, args.rate, args.latency_s)
        finally:
            await drop_database(admin, url)
        expected = int(args.rate * args.latency_s)
        print(
            f"latency at {args.rate}/s over {args.latency_s:.0f}s: {len(lat)}/{expected} seen, "
            f"p50 {1000 * percentile(lat, 0.5):.0f} ms, p99 {1000 * percentile(lat, 0.99):.0f} ms, "
            f"max {1000 * max(lat, default=0):.0f} ms"
        )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--naive-events", type=int, default=0, help="cap for the naive run (0: all)")
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument(
        "--writers",
        type=lambda text: [int(w) for w in text.split(",")],
        default=[2],
        help="batches written at once by ours; a list (1,2) measures each",
    )
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--plates", type=int, default=50_000)
    p.add_argument("--rate", type=int, default=1000)
    p.add_argument("--latency-s", type=float, default=10.0)
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    p.add_argument("--bootstrap", help="Kafka bootstrap; default: start one")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
