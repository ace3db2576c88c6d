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

With `--malformed SHARE` that share of the messages is malformed (of every
kind `ingestor.simulate` makes): the ceiling COPYs only the good ones, the
naive consumer skips the rest, ours dead-letters them (the rates count every
message), and the latency run also times each dead letter from the send to
the moment a `read_committed` consumer of the dead-letter topic sees it.

    .venv/bin/python bench/ingest.py --events 20000 --naive-events 5000
    .venv/bin/python bench/ingest.py --events 1000000 --naive-events 100000 --latency-s 30
    .venv/bin/python bench/ingest.py --events 200000 --naive-events 2000 --malformed 0.05

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
from aiokafka.structs import RecordMetadata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.migrate import migrate
from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.simulate import Simulation, SimulationConfig
from ingestor.sources.kafka import KafkaSource
from ingestor.writer import NOTIFY_CHANNEL
from schema.errors import InvalidEvent
from schema.events import COLUMNS, decode_event

Payload = tuple[bytes, bytes | None]
MALFORMED_KEY = b"malformed"  # how ingestor.simulate keys its malformed messages

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


async def produce(bootstrap: str, topic: str, payloads: list[Payload]) -> float:
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


async def bench_ceiling(url: str, payloads: list[Payload]) -> float:
    # Parsing is not timed; the ceiling stores the good reads only.
    rows = [decode_event(v).as_row() for v, k in payloads if k != MALFORMED_KEY]
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
        isolation_level="read_committed",
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
                    done += 1
                    try:
                        event = decode_event(record.value)
                    except InvalidEvent:
                        continue  # the naive design drops what it cannot parse
                    await conn.execute(INSERT_ONE, *event.as_row())
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await conn.close()
    return n / elapsed


async def bench_ours(
    url: str, bootstrap: str, topic: str, n: int, good: int, batch_size: int, writers: int
) -> float:
    """`n` messages, `good` of them valid: messages per second until all are stored or
    dead-lettered."""
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
        while stats.stored + stats.duplicates + stats.dead_lettered < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await task
        await pool.close()
    assert await count_rows(url) == good
    return n / elapsed


class Latencies:
    """Produce-to-stored of good reads and produce-to-readable of dead letters, in seconds."""

    def __init__(self) -> None:
        self.stored: list[float] = []
        self.dead: list[float] = []
        self.sent_good: dict[uuid.UUID, float] = {}
        self.sent_bad: list[tuple[asyncio.Future[RecordMetadata], float]] = []
        self.letters: dict[tuple[int, int], float] = {}  # original (partition, offset) -> seen

    def settle_dead(self) -> None:
        """Match each dead letter seen to its send (its record's coordinates)."""
        self.dead = []
        for delivery, sent in self.sent_bad:
            if delivery.done() and not delivery.exception():
                meta = delivery.result()
                seen = self.letters.get((meta.partition, meta.offset))
                if seen is not None:
                    self.dead.append(seen - sent)


async def read_letters(bootstrap: str, topic: str, into: Latencies) -> None:
    """Note when each dead letter becomes readable to a read_committed consumer."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        metadata_max_age_ms=1000,  # the topic is created by the first letter
    )
    await consumer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                seen = time.perf_counter()
                for r in records:
                    h = dict(r.headers)
                    origin = (int(h["original_partition"]), int(h["original_offset"]))
                    into.letters[origin] = seen
    finally:
        await consumer.stop()


async def bench_latency(
    url: str, bootstrap: str, rate: int, seconds: float, malformed: float
) -> Latencies:
    """Send at `rate`/s for `seconds`; a read's latency is the NOTIFY of its batch - its
    send, a dead letter's the moment it is readable - its send."""
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
    sim = Simulation(SimulationConfig(seed=99, malformed=malformed))
    lat = Latencies()
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
            lat.stored.extend(heard - lat.sent_good[i] for i in ids if i in lat.sent_good)

    # Warm up: topic created, group joined, before the clock runs.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    await producer.start()
    await producer.send_and_wait(topic, orjson.dumps(sim.event()), key=b"warm")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    stats = metrics.Stats()
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
    collector = asyncio.create_task(collect())
    letters = asyncio.create_task(read_letters(bootstrap, settings.dlq_topic, lat))
    while stats.stored < 1:
        await asyncio.sleep(0.01)
    messages = sim.messages()
    try:
        total = int(rate * seconds)
        started = time.perf_counter()
        for k in range(total):
            value, key = next(messages)
            sent = time.perf_counter()
            delivery = await producer.send(topic, value, key=key)
            if key == MALFORMED_KEY:
                lat.sent_bad.append((delivery, sent))
            else:
                lat.sent_good[uuid.UUID(orjson.loads(value)["event_id"])] = sent
            ahead = (k + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and (
            len(lat.stored) < len(lat.sent_good) or len(lat.letters) < len(lat.sent_bad)
        ):
            await asyncio.sleep(0.05)
    finally:
        collector.cancel()
        letters.cancel()
        stop.set()
        await task
        await producer.stop()
        await pool.close()
        await listener.close()
        await reader.close()
    lat.settle_dead()
    return lat


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else 0.0


def summary(latencies: list[float], expected: int) -> str:
    return (
        f"{len(latencies)}/{expected} seen, p50 {1000 * percentile(latencies, 0.5):.0f} ms, "
        f"p99 {1000 * percentile(latencies, 0.99):.0f} ms, "
        f"max {1000 * max(latencies, default=0):.0f} ms"
    )


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
    sim = Simulation(
        SimulationConfig(cameras=args.cameras, plates=args.plates, seed=1, malformed=args.malformed)
    )
    payloads = [(v, k) for v, k in itertools.islice(sim.messages(), args.events)]
    good = sum(k != MALFORMED_KEY for _, k in payloads)
    topic = f"bench-ingest-{uuid.uuid4().hex}"
    produce_s = await produce(bootstrap, topic, payloads)
    print(
        f"events={args.events} ({args.events - good} malformed) produced in {produce_s:.1f}s "
        "(not counted)"
    )

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
                    url, bootstrap, topic, args.events, good, args.batch, writers
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
            lat = await bench_latency(url, bootstrap, args.rate, args.latency_s, args.malformed)
        finally:
            await drop_database(admin, url)
        print(
            f"latency at {args.rate}/s over {args.latency_s:.0f}s: "
            f"{summary(lat.stored, len(lat.sent_good))}"
        )
        if lat.sent_bad:
            print(f"dead letters (send to readable): {summary(lat.dead, len(lat.sent_bad))}")


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
    p.add_argument(
        "--malformed", type=float, default=0.0, help="share of malformed messages (0.05: 5%%)"
    )
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    p.add_argument("--bootstrap", help="Kafka bootstrap; default: start one")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
