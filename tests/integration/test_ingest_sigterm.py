"""SIGTERM reaches a real `python -m ingestor` in any state: exit 0, nothing lost or doubled.

Each scenario stops an ingestor of a two-member group where the stop is
hardest: PostgreSQL down (the batches in hand are given up, uncommitted),
a rebalance in progress (its partitions are being revoked), and both at
once. Then a fresh ingestor drains the topic and every read is stored
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ingestor.publish import encode
from tests.factories import wire_event
from tests.support.soak_rig import READY_LINE, Postgres

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 6
# SIGTERM to exit: a revocation may take its whole grace (10 s) first.
EXIT_BOUND_S = 30.0
# What the ingestor logs when a rebalance starts revoking its partitions.
REVOKING = b"revoking"


@dataclass
class Group:
    """`python -m ingestor` processes of one consumer group, each logging to its own file."""

    url: str
    bootstrap: str
    work: Path
    topic: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex}")
    group: str = field(default_factory=lambda: f"group-{uuid.uuid4().hex}")
    camera: str = field(default_factory=lambda: f"s{uuid.uuid4().hex[:8]}")
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def create_topic(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, PARTITIONS, 1)])
        finally:
            await admin.close()

    async def produce(self, start: int, n: int) -> None:
        async with self.producer() as producer:
            await self.send(producer, start, n)

    @contextlib.asynccontextmanager
    async def producer(self) -> AsyncIterator[AIOKafkaProducer]:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=20, acks="all")
        await producer.start()
        try:
            yield producer
        finally:
            await producer.stop()

    async def send(self, producer: AIOKafkaProducer, start: int, n: int) -> None:
        """Reads `start` … `start + n - 1`, acknowledged."""
        acks = []
        for i in range(start, start + n):
            event = wire_event(camera_id=f"{self.camera}-{i % 12}", plate__text=f"S{i}")
            value, key = encode(event)
            acks.append(await producer.send(self.topic, value=value, key=key))
        await asyncio.gather(*acks)

    async def start(self, name: str) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
            "ALPR_DATABASE_URL": self.url,
            "ALPR_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ALPR_KAFKA_TOPIC": self.topic,
            "ALPR_KAFKA_GROUP_ID": self.group,
            "ALPR_KAFKA_AUTO_OFFSET_RESET": "earliest",
            "ALPR_DLQ_TOPIC": f"{self.topic}.dlq",
            "ALPR_KAFKA_ENABLED": "true",
            "ALPR_HTTP_ENABLED": "false",
            "ALPR_INGESTOR_METRICS_PORT": "0",
            "ALPR_BATCH_SIZE": "100",
            "ALPR_BATCH_MAX_AGE_MS": "50",
            "ALPR_LOG_LEVEL": "INFO",
        }
        with self.log(name).open("ab") as out:
            self.processes[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ingestor",
                env=env,
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        await _wait_for(lambda: READY_LINE in self.log(name).read_bytes(), 120)

    def log(self, name: str) -> Path:
        return self.work / f"{name}.log"

    def revocations(self, name: str) -> int:
        return self.log(name).read_bytes().count(REVOKING)

    async def terminate(self, name: str) -> int | None:
        """SIGTERM; the exit code, or None if still running after `EXIT_BOUND_S` (then killed)."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), EXIT_BOUND_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None

    async def kill_all(self) -> None:
        for process in self.processes.values():
            process.kill()
            await process.wait()
        self.processes.clear()

    async def count(self) -> tuple[int, int, int]:
        """(rows, distinct event ids, reads in the hourly rollup) of this group's camera."""
        conn = await asyncpg.connect(self.url)
        try:
            like = f"{self.camera}-%"
            row = await conn.fetchrow(
                "SELECT count(*), count(DISTINCT event_id) FROM plate_events"
                " WHERE camera_id LIKE $1",
                like,
            )
            assert row is not None
            rows, ids = row
            reads = await conn.fetchval(
                "SELECT COALESCE(sum(reads), 0) FROM camera_hourly WHERE camera_id LIKE $1", like
            )
            return int(rows), int(ids), int(reads)
        finally:
            await conn.close()

    async def drain(self, expected: int) -> None:
        """A fresh member reads everything left; then every read is stored exactly once."""
        await self.start("drainer")

        async def stored() -> bool:
            return (await self.count())[0] >= expected

        await _wait_for(stored, 120)
        await asyncio.sleep(1.0)  # time to store anything twice, if it would
        assert await self.terminate("drainer") == 0
        assert await self.count() == (expected, expected, expected)


async def _wait_for(check: Callable[[], bool | Awaitable[bool]], timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _value(check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


@pytest.fixture
async def group(own_postgres: tuple[Postgres, str], kafka_bootstrap: str) -> AsyncIterator[Group]:
    with tempfile.TemporaryDirectory(prefix="alpr-term-") as work:
        group = Group(own_postgres[1], kafka_bootstrap, Path(work))
        await group.create_topic()
        try:
            yield group
        finally:
            await group.kill_all()


async def test_sigterm_during_outage_and_during_its_rebalance(
    own_postgres: tuple[Postgres, str], group: Group
) -> None:
    server, url = own_postgres
    await group.start("a")
    await group.start("b")
    await group.produce(0, 600)
    await _wait_for(lambda: _stored(group, 600))
    await server.stop("immediate")
    await group.produce(600, 600)  # read, never stored: the database is down
    await asyncio.sleep(3)  # both members retrying, their partitions paused

    revoked = group.revocations("a")
    # The outage: b gives its batches up and leaves the group...
    assert await group.terminate("b") == 0
    # ...which starts a rebalance: a's partitions are being revoked, in the outage.
    await _wait_for(lambda: group.revocations("a") > revoked, 30)
    # Into the revocation's grace: the loop has polled the paused partitions
    # since (it does every second), and the settling has not given up yet.
    await asyncio.sleep(1.5)
    assert await group.terminate("a") == 0

    await server.start(url)
    await group.drain(1200)


async def test_sigterm_during_a_rebalance_under_traffic(group: Group) -> None:
    await group.start("a")
    await group.produce(0, 300)
    await _wait_for(lambda: _stored(group, 300))
    traffic = asyncio.create_task(_steady(group, start=300, batches=60))
    try:
        revoked = group.revocations("a")
        joining = asyncio.create_task(group.start("b"))  # a's partitions get revoked
        await _wait_for(lambda: group.revocations("a") > revoked, 60)
        assert await group.terminate("a") == 0
        await joining
        assert await group.terminate("b") == 0
    finally:
        sent = await traffic
    await group.drain(300 + sent)


async def _steady(group: Group, start: int, batches: int) -> int:
    """Produce 20 reads every 50 ms; returns how many."""
    async with group.producer() as producer:
        for i in range(batches):
            await group.send(producer, start + 20 * i, 20)
            await asyncio.sleep(0.05)
    return 20 * batches


async def _value(result: bool | Awaitable[bool]) -> bool:
    return await result if inspect.isawaitable(result) else result


async def _stored(group: Group, n: int) -> bool:
    return (await group.count())[0] >= n
