"""`alpr status` against a real database and a real metrics endpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from alpr.status import collect, render
from ingestor import metrics
from ingestor.retention import RetentionPolicy, run_retention
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_status_reports_database_and_metrics(pool: asyncpg.Pool[Any]) -> None:
    now = datetime.now(UTC)
    events = [
        event_from_dict(
            wire_event(captured_at=(now - timedelta(minutes=i)).isoformat(), plate__text=f"ST{i}")
        )
        for i in range(30)
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)
        await run_retention(conn, RetentionPolicy(default_days=365))
    port = _free_port()
    metrics.serve(port)
    # The registry is the process's: ingestors run in this test session before
    # left their partitions' lag in it.
    metrics.LAG.clear()
    metrics.LAG.labels("status-topic", "0").set(40)
    metrics.LAG.labels("status-topic", "1").set(2)
    dead = metrics.DEAD_LETTERED.labels("kafka", "INVALID_EVENT")
    dead.inc(3)
    endpoints = {
        "ingestor": f"http://127.0.0.1:{port}/metrics",
        "gateway": f"http://127.0.0.1:{_free_port()}/metrics",  # nothing listens
    }
    status = await collect(pool, endpoints)
    db = status.database
    assert db["total_events"] >= 30 and db["size_bytes"] > 1_000_000
    assert db["ingest_rate_per_s"] >= 30 / 300
    assert db["last_retention_run"] is not None and db["active_holds"] == 0
    assert status.metrics["gateway"] is None
    ingestor = status.metrics["ingestor"]
    assert ingestor is not None and ingestor["alpr_ingest_consumer_lag"] == 42
    text = "\n".join(render(status))
    assert "lag 42 messages" in text
    assert "gateway         not answering" in text
    last_read = next(line for line in text.splitlines() if line.startswith("last read"))
    assert last_read.endswith("s ago") or "m ago" in last_read, last_read
    assert "ST1" not in text  # never plate text


def test_status_command(database_url: str) -> None:
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alpr",
            "status",
            "--ingestor-metrics",
            f"http://127.0.0.1:{_free_port()}/metrics",
            "--gateway-metrics",
            f"http://127.0.0.1:{_free_port()}/metrics",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("database ")
    assert "ingest rate" in done.stdout and "legal holds" in done.stdout
