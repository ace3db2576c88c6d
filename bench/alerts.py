"""Alert matching: latency and throughput beside a naive matcher, in one run.

Lists: --exact entries matched exactly (default 1,000,000) and --memory
entries matched in memory (default 10,000: half fuzzy at cost 1, half
wildcard patterns), each list with a webhook to a receiver in this process.
Reads go through the real Kafka broker and the ingestor's Kafka source; the
matcher is its own process (`python -m alerts`), as in production.

  latency     reads at --rate/s for --seconds, --hit-share of them hitting
              (exact plates, and OCR look-alikes of fuzzy entries): from the
              read's batch stored (its NOTIFY alpr_stored heard here) to its
              alert committed (NOTIFY alpr_alerts heard) and to its webhook
              received; p50/p99.
  throughput  --catchup reads ingested flat out with the matcher stopped
              (the ingest rate), then the matcher started: the time it takes
              to catch up (the matching rate).
  naive       one SELECT ... WHERE plate = $1 per read plus a Python loop
              over the in-memory entries (ocr_distance / the pattern), over
              --naive-reads of the same reads: its rate.

    .venv/bin/python bench/alerts.py --exact 100000 --memory 2000 --seconds 10
    .venv/bin/python bench/alerts.py   # the issue's sizes

PostgreSQL: --database-url (a superuser URL; a database is created per run)
or an embedded server. Kafka: --bootstrap or a broker started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import drop_database, fresh_database, percentile
from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.simulate import Simulation, SimulationConfig
from ingestor.sources.kafka import KafkaSource
from schema.plate_match import ocr_distance, parse_wildcard

METRICS_PORT = 18_766
ALPHABET = string.ascii_uppercase + string.digits
LOOK_ALIKE = {"0": "O", "O": "0", "8": "B", "B": "8", "5": "S", "S": "5", "1": "I", "I": "1"}


def plate(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(7))


def look_alike(text: str, rng: random.Random) -> str:
    """`text` with one character swapped for a look-alike (cost 0.25), or a
    plain substitution at the end when it has none (cost 1)."""
    spots = [i for i, c in enumerate(text) if c in LOOK_ALIKE]
    if not spots:
        return text[:-1] + ("X" if text[-1] != "X" else "Y")
    i = rng.choice(spots)
    return text[:i] + LOOK_ALIKE[text[i]] + text[i + 1 :]


async def load_lists(url: str, n_exact: int, n_memory: int, hook: str) -> dict[str, list[str]]:
    """Two lists with webhooks; returns the plates to make hits from."""
    rng = random.Random(5)
    exact = list({plate(rng) for _ in range(n_exact + n_exact // 50)})[:n_exact]
    fuzzy = [plate(rng) for _ in range(n_memory // 2)]
    patterns = [f"{p[:3]}?{p[4:6]}*" for p in (plate(rng) for _ in range(n_memory - len(fuzzy)))]
    conn = await asyncpg.connect(url)
    try:
        for name, mode in (("exact", "exact"), ("memory", "fuzzy")):
            hotlist = await conn.fetchval(
                "INSERT INTO hotlists (name, match_mode, max_cost, created_by) "
                "VALUES ($1, $2, 1, 'bench') RETURNING hotlist_id",
                name,
                mode,
            )
            await conn.execute(
                "INSERT INTO webhooks (hotlist_id, url, secret, created_by) "
                "VALUES ($1, $2, $3, 'bench')",
                hotlist,
                hook,
                "bench-secret-of-some-length",
            )
            rows = (
                [(hotlist, p, "stolen", "bench", None) for p in exact]
                if name == "exact"
                else [(hotlist, p, "wanted", "bench", None) for p in fuzzy]
                + [(hotlist, p, "wanted", "bench", "wildcard") for p in patterns]
            )
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "hotlist_entries",
                records=rows,
                columns=["hotlist_id", "plate", "reason", "added_by", "match_mode"],
            )
            print(f"list {name}: {len(rows):,} entries in {time.perf_counter() - started:.1f}s")
        await conn.execute("ANALYZE hotlist_entries")
    finally:
        await conn.close()
    return {"exact": exact, "fuzzy": fuzzy, "patterns": patterns}


def reads(count: int, hit_share: float, plates: dict[str, list[str]], seed: int) -> list[bytes]:
    """`count` synthetic reads, `hit_share` of them hitting an entry (two thirds
    exact, one third fuzzy look-alikes), each hit its own vehicle pass."""
    rng = random.Random(seed)
    sim = Simulation(SimulationConfig(cameras=16, plates=200_000, seed=seed))
    out = []
    for _ in range(count):
        event = sim.event()
        if rng.random() < hit_share:
            text = (
                rng.choice(plates["exact"])
                if rng.random() < 2 / 3
                else look_alike(rng.choice(plates["fuzzy"]), rng)
            )
            event["plate"]["text"] = text
            event["plate"]["normalized_text"] = text
            event["camera_id"] = f"hit-{uuid.uuid4().hex[:8]}"  # one pass per hit
        out.append(orjson.dumps(event))
    return out


RECEIVER = r"""
import asyncio, sys, time
from tests.integration.webhook_receiver import Receiver

async def main():
    receiver = Receiver(int(sys.argv[1]))
    await receiver.start()
    with open(sys.argv[2], "ab") as out:
        while True:
            await asyncio.sleep(0.2)
            while receiver.received:
                got = receiver.received.pop(0)
                out.write(f"{got.wall}\t".encode() + got.body + b"\n")
            out.flush()

asyncio.run(main())
"""


def receiver_process(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The webhook receiver in a process of its own: this one is busy producing
    and ingesting, and a receiver sharing its event loop would answer late."""
    root = str(Path(__file__).resolve().parents[1])
    return subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port), str(log)],
        env={**os.environ, "PYTHONPATH": root},
    )


def received(log: Path) -> list[tuple[float, dict[str, Any]]]:
    out = []
    for line in log.read_bytes().splitlines():
        wall, body = line.split(b"\t", 1)
        out.append((float(wall), orjson.loads(body)))
    return out


def matcher_process(url: str, profile: str | None) -> subprocess.Popen[bytes]:
    """`python -m alerts`, under cProfile writing to `profile` when given
    (written when the process stops on SIGTERM)."""
    env = {**os.environ, "ALPR_DATABASE_URL": url, "ALPR_ALERTS_METRICS_PORT": str(METRICS_PORT)}
    env["ALPR_LOG_LEVEL"] = "WARNING"
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen([sys.executable, *profiler, "-m", "alerts"], env=env)


async def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    while process.poll() is None:
        await asyncio.sleep(0.05)


class Clock:
    """When each read's batch was announced, and each alert, as heard here."""

    def __init__(self) -> None:
        self.stored: dict[str, float] = {}
        self.alerts: dict[int, float] = {}
        self._batches: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

    async def start(self, url: str) -> None:
        self.listener = await asyncpg.connect(url)
        self.reader = await asyncpg.connect(url)
        await self.listener.add_listener(
            "alpr_stored",
            lambda *a: self._batches.put_nowait((int(a[3]), time.time())),
        )
        await self.listener.add_listener(
            "alpr_alerts", lambda *a: self.alerts.setdefault(int(a[3]), time.time())
        )
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        while True:
            batch_id, heard = await self._batches.get()
            ids = await self.reader.fetchval(
                "SELECT event_ids FROM stored_batches WHERE batch_id = $1", batch_id
            )
            for event_id in ids or ():
                self.stored[str(event_id)] = heard

    async def close(self) -> None:
        self.task.cancel()
        await self.listener.close()
        await self.reader.close()


async def produce(
    producer: AIOKafkaProducer, topic: str, payloads: list[bytes], rate: float
) -> None:
    started = time.perf_counter()
    for k, value in enumerate(payloads):
        await producer.send(topic, value, key=str(k % 16).encode())
        if rate:
            ahead = (k + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
    await producer.flush()


async def caught_up(conn: asyncpg.Connection[Any]) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT (SELECT watermark FROM follower_positions WHERE follower = 'alerts') "
            "> (SELECT max(xid) FROM stored_batches)"
        )
    )


async def matcher_rounds() -> None:
    """The matcher's own account of its rounds (alpr_alerts_round_seconds)."""
    import httpx

    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{METRICS_PORT}/metrics")).text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("alpr_alerts_round_seconds_sum", "alpr_alerts_round_seconds_count"))
    }
    count = values.get("alpr_alerts_round_seconds_count", 0)
    if count:
        mean = values["alpr_alerts_round_seconds_sum"] / count
        print(f"matcher rounds: {count:.0f}, mean {1000 * mean:.0f} ms")


async def naive_rate(url: str, sample: list[str]) -> float:
    """One SELECT per read and a Python loop over the in-memory entries."""
    conn = await asyncpg.connect(url)
    try:
        memory = await conn.fetch(
            "SELECT plate, match_mode FROM hotlist_entries WHERE hotlist_id = "
            "(SELECT hotlist_id FROM hotlists WHERE name = 'memory')"
        )
        entries = [
            (r["plate"], parse_wildcard(r["plate"]) if r["match_mode"] == "wildcard" else None)
            for r in memory
        ]
        started = time.perf_counter()
        hits = 0
        for text in sample:
            hits += len(await conn.fetch("SELECT * FROM hotlist_entries WHERE plate = $1", text))
            for entry, pattern in entries:
                if pattern is not None:
                    hits += pattern.matches(text)
                else:
                    hits += ocr_distance(entry, text, 1.0) is not None
        return len(sample) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def run(args: argparse.Namespace, admin: str, bootstrap: str) -> None:
    url = await fresh_database(admin)
    hook_log = Path(tempfile.mkdtemp(prefix="alpr-bench-hooks-")) / "received"
    hook_log.touch()
    receiver = receiver_process(args.receiver_port, hook_log)
    try:
        hook = f"http://127.0.0.1:{args.receiver_port}/hook"
        plates = await load_lists(url, args.exact, args.memory, hook)
        topic = f"bench-alerts-{uuid.uuid4().hex}"
        settings = IngestorSettings(
            database_url=url,
            kafka_bootstrap_servers=bootstrap,
            kafka_topic=topic,
            kafka_group_id=f"alerts-{uuid.uuid4().hex}",
            kafka_auto_offset_reset="earliest",
            dlq_topic=f"{topic}.dlq",
            http_enabled=False,
            ingestor_metrics_port=None,
        )
        pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
        stats = metrics.Stats()
        stop = asyncio.Event()
        ingestor = asyncio.create_task(KafkaSource(settings, pool, stats).run(stop))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
        await producer.start()
        clock = Clock()
        await clock.start(url)
        conn = await asyncpg.connect(url)
        matcher = matcher_process(url, args.profile)
        try:
            # Warm up until a hit raised an alert: the group joined, the
            # matcher active with its lists loaded, before the clock runs.
            while not await conn.fetchval("SELECT count(*) FROM alerts"):
                await produce(producer, topic, reads(1, 1.0, plates, 0), 0)
                await asyncio.sleep(1.0)
            base = stats.stored
            await asyncio.sleep(2.0)  # the warm-up's webhooks out of the way
            warm_alert = await conn.fetchval("SELECT max(alert_id) FROM alerts")
            warm_hooks = len(received(hook_log))

            # Latency at a steady rate.
            total = int(args.rate * args.seconds)
            await produce(producer, topic, reads(total, args.hit_share, plates, 1), args.rate)
            deadline = time.perf_counter() + 60
            while stats.stored - base < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
            while time.perf_counter() < deadline and not await caught_up(conn):
                await asyncio.sleep(0.1)
            while time.perf_counter() < deadline and await conn.fetchval(
                "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL"
            ):
                await asyncio.sleep(0.1)
            alerts = await conn.fetch(
                "SELECT a.alert_id, a.best_event_id::text AS event_id FROM alerts AS a "
                "WHERE a.alert_id > $1",
                warm_alert,
            )
            to_alert = [
                clock.alerts[a["alert_id"]] - clock.stored[a["event_id"]]
                for a in alerts
                if a["alert_id"] in clock.alerts and a["event_id"] in clock.stored
            ]
            await asyncio.sleep(0.5)  # the receiver writes its log every 0.2 s
            hooks = received(hook_log)[warm_hooks:]
            to_hook = [
                at - clock.stored[body["best_read"]["event_id"]]
                for at, body in hooks
                if body["best_read"]["event_id"] in clock.stored
            ]
            print(
                f"latency: {total:,} reads at {args.rate}/s, {len(alerts):,} alerts, "
                f"{len(hooks):,} webhooks received"
            )
            for name, values in (
                ("stored -> alert committed", to_alert),
                ("stored -> webhook", to_hook),
            ):
                print(
                    f"  {name:26s} p50 {1000 * percentile(values, 0.5):6.0f} ms  "
                    f"p99 {1000 * percentile(values, 0.99):6.0f} ms  "
                    f"max {1000 * max(values, default=0):6.0f} ms"
                )

            # Throughput: ingest flat out with the matcher paused (SIGSTOP: its
            # lists stay loaded), then let it catch up.
            matcher.send_signal(signal.SIGSTOP)
            backlog = reads(args.catchup, args.hit_share, plates, 2)
            before = stats.stored
            started = time.perf_counter()
            await produce(producer, topic, backlog, 0)
            while stats.stored - before < args.catchup:
                await asyncio.sleep(0.01)
            ingest_rate = args.catchup / (time.perf_counter() - started)
            started = time.perf_counter()
            matcher.send_signal(signal.SIGCONT)
            while not await caught_up(conn):
                await asyncio.sleep(0.02)
            match_rate = args.catchup / (time.perf_counter() - started)
            sample = [
                orjson.loads(v)["plate"]["normalized_text"] for v in backlog[: args.naive_reads]
            ]
            naive = await naive_rate(url, sample)
            await matcher_rounds()
            print(f"throughput over {args.catchup:,} reads:")
            print(f"  ingest (Kafka -> stored)       {ingest_rate:>10,.0f} reads/s")
            print(f"  matcher catching up            {match_rate:>10,.0f} reads/s")
            print(f"  naive matcher ({len(sample)} reads)      {naive:>10,.1f} reads/s")
            print(f"  matcher / ingest = {match_rate / ingest_rate:.1f}x")
            print(f"  matcher / naive  = {match_rate / naive:,.0f}x")
        finally:
            await stop_process(matcher)
            stop.set()
            await ingestor
            await producer.stop()
            await clock.close()
            await conn.close()
            await pool.close()
    finally:
        receiver.terminate()
        receiver.wait()
        await drop_database(admin, url)


async def main(args: argparse.Namespace) -> None:
    server = None
    if args.database_url:
        admin = args.database_url
    else:
        from core.embedded import server_uri, start_server

        server = start_server(Path(tempfile.mkdtemp(prefix="alpr-bench-pg-")))
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


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--exact", type=int, default=1_000_000)
    p.add_argument("--memory", type=int, default=10_000, help="fuzzy + wildcard entries")
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--hit-share", type=float, default=0.01)
    p.add_argument("--catchup", type=int, default=20_000)
    p.add_argument("--naive-reads", type=int, default=100)
    p.add_argument("--receiver-port", type=int, default=18_765)
    p.add_argument("--database-url", help="superuser URL; default: an embedded server")
    p.add_argument("--bootstrap", help="Kafka bootstrap; default: start one")
    p.add_argument("--profile", help="write the matcher process's cProfile stats to this file")
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
