"""The alerts process end to end: reads through the real Kafka broker and the
ingestor, the matcher as its own process, SIGKILLed mid-stream and restarted
(twice over: one active, one waiting) -> exactly the expected alerts, none twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from ingestor import metrics
from ingestor.publish import encode
from ingestor.sources.kafka import KafkaSource
from tests.factories import kafka_ingestor_settings, wire_event
from tests.integration.alerts_support import add_entry, add_list, tag

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 90.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def _matcher(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
        "ALPR_DATABASE_URL": database_url,
        "ALPR_ALERTS_METRICS_PORT": "",
        "ALPR_ALERT_POLL_INTERVAL_S": "0.2",
        "ALPR_ALERT_BATCHES_PER_ROUND": "3",  # many small rounds: a kill lands mid-stream
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "alerts"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _messages(t: str) -> tuple[list[tuple[bytes, bytes]], int, int]:
    """Reads for 140 entries (3 per pass, one pass each) among 3000 others."""
    now = datetime.now(UTC)
    events = []
    plates = (
        [f"E{t}{i:03d}" for i in range(100)]
        + [f"F{t}{i:02d}8" for i in range(30)]  # fuzzy entries end in B
        + [f"W{t}{i}XYZ" for i in range(10)]
    )
    for n, plate in enumerate(plates):
        base = now - timedelta(seconds=n)
        events += [
            wire_event(
                camera_id=f"cam-{n}-{t}",
                captured_at=(base + timedelta(seconds=k)).isoformat(),
                plate__text=plate,
                plate__normalized_text=plate,
            )
            for k in range(3)
        ]
    hits = len(events)
    events += [
        wire_event(camera_id=f"cam-{i % 50}-{t}", plate__text=f"N{t}{i:04d}") for i in range(3000)
    ]
    random.Random(7).shuffle(events)
    out = []
    for event in events:
        value, key = encode(event)
        assert key is not None
        out.append((value, key))
    return out, len(plates), hits


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def _send(producer: AIOKafkaProducer, topic: str, messages: list[Any]) -> None:
    for start in range(0, len(messages), 200):
        acks = [
            await producer.send(topic, value=v, key=k) for v, k in messages[start : start + 200]
        ]
        await asyncio.gather(*acks)
        await asyncio.sleep(0.2)


async def test_sigkill_mid_stream_and_restart_raise_every_alert_once(
    pool: asyncpg.Pool[Any],
    database_url: str,
    kafka_bootstrap: str,
    producer: AIOKafkaProducer,
    tmp_path: Path,
) -> None:
    t = tag()
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    hotlist = await add_list(pool)
    for i in range(100):
        await add_entry(pool, hotlist, f"E{t}{i:03d}")
    for i in range(30):
        await add_entry(pool, hotlist, f"F{t}{i:02d}B", match_mode="fuzzy", max_cost=0.25)
    for i in range(10):
        await add_entry(pool, hotlist, f"W{t}{i}*", match_mode="wildcard")
    messages, passes, hit_reads = _messages(t)
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    stop = asyncio.Event()
    ingestor = asyncio.create_task(KafkaSource(settings, pool, metrics.Stats()).run(stop))
    log = tmp_path / "alerts.log"
    first = _matcher(database_url, log)
    later: list[subprocess.Popen[bytes]] = []
    try:

        async def following() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM follower_positions"))

        await _wait_for(following)
        third = len(messages) // 3
        await _send(producer, topic, messages[:third])

        async def some_alerts() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM alerts"))

        await _wait_for(some_alerts)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        await _send(producer, topic, messages[third : 2 * third])
        later = [_matcher(database_url, log), _matcher(database_url, log)]
        await _send(producer, topic, messages[2 * third :])

        async def stored() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM plate_events WHERE camera_id LIKE $1", f"%-{t}"
            ) == len(messages)

        await _wait_for(stored)

        async def all_read() -> bool:
            return await pool.fetchval("SELECT count(*) FROM alert_reads") == hit_reads

        try:
            await _wait_for(all_read)
        except AssertionError:
            found = await pool.fetchval("SELECT count(*) FROM alert_reads")
            raise AssertionError(f"{found} of {hit_reads} reads\n{log.read_text()}") from None
        await asyncio.sleep(1.0)  # anything raised twice would show by now
    finally:
        stop.set()
        await asyncio.wait_for(ingestor, 30)
        for process in [first, *later]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
    assert [p.wait(20) for p in later] == [0, 0], log.read_text()
    rows = await pool.fetch("SELECT entry_id, camera_id, read_count FROM alerts")
    assert len(rows) == passes
    assert len({(r["entry_id"], r["camera_id"]) for r in rows}) == passes
    assert all(r["read_count"] == 3 for r in rows)
    assert await pool.fetchval("SELECT count(*) FROM alert_reads") == hit_reads
    assert "another alert matcher is active" in log.read_text()
