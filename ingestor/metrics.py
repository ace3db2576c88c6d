"""Counters of the ingestor: logged periodically and exported to Prometheus.

`Stats` is what the periodic log line shows (totals since start); the
Prometheus metrics carry the same numbers plus batch latency and consumer
lag per assigned partition. Both are updated at one place, `Stats.record_*`
(and `Stats.drop_lag`); `ingestor.health` publishes `Stats` to the database
for the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

CONSUMED = Counter("alpr_ingest_consumed", "Messages taken from a source", ["source"])
STORED = Counter("alpr_ingest_stored", "Reads newly stored", ["source"])
DUPLICATES = Counter("alpr_ingest_duplicates", "Reads already stored (replays)", ["source"])
DEAD_LETTERED = Counter("alpr_ingest_dead_lettered", "Messages dead-lettered", ["source", "code"])
BATCHES = Counter("alpr_ingest_batches", "Batches written", ["source"])
BATCH_SECONDS = Histogram(
    "alpr_ingest_batch_seconds",
    "Time to write one batch (write, dead letters, commit)",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STORAGE_RETRIES = Counter("alpr_ingest_storage_retries", "Writes retried after an outage")
LAG = Gauge("alpr_ingest_consumer_lag", "Messages behind the log end", ["topic", "partition"])
PAUSED = Gauge("alpr_ingest_paused", "1 while fetching is paused for an outage")


@dataclass(frozen=True)
class Lag:
    """A partition's consumer lag, and when the broker was asked for its log end."""

    lag: int
    measured_at: datetime


@dataclass
class Stats:
    """Totals since start, for the periodic log line; the newest lag of each
    assigned (topic, partition) and the last dead letter's time, for `ingestor.health`."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    batch_seconds_total: float = 0.0
    batch_seconds_max: float = 0.0
    lags: dict[tuple[str, int], Lag] = field(default_factory=dict)
    last_dead_letter_at: datetime | None = None

    def record_consumed(self, source: str, n: int) -> None:
        self.consumed += n
        CONSUMED.labels(source).inc(n)

    def record_batch(self, source: str, stored: int, duplicates: int, seconds: float) -> None:
        self.stored += stored
        self.duplicates += duplicates
        self.batches += 1
        self.batch_seconds_total += seconds
        self.batch_seconds_max = max(self.batch_seconds_max, seconds)
        STORED.labels(source).inc(stored)
        DUPLICATES.labels(source).inc(duplicates)
        BATCHES.labels(source).inc()
        BATCH_SECONDS.labels(source).observe(seconds)

    def record_dead(self, source: str, code: str, n: int = 1) -> None:
        self.dead_lettered += n
        self.last_dead_letter_at = datetime.now(UTC)
        DEAD_LETTERED.labels(source, code).inc(n)

    def record_lag(self, topic: str, partition: int, lag: int, measured_at: datetime) -> None:
        lag = max(lag, 0)
        self.lags[(topic, partition)] = Lag(lag, measured_at)
        LAG.labels(topic, str(partition)).set(lag)

    def drop_lag(self, topic: str, partition: int) -> None:
        """Forget a partition no longer assigned: its lag is another member's to measure."""
        self.lags.pop((topic, partition), None)
        with contextlib.suppress(KeyError):  # never recorded
            LAG.remove(topic, str(partition))

    def summary(self) -> dict[str, float | int]:
        data: dict[str, float | int] = asdict(self)
        del data["lags"], data["last_dead_letter_at"]
        data["batch_ms_avg"] = round(1000 * self.batch_seconds_total / max(self.batches, 1), 1)
        data["batch_ms_max"] = round(1000 * self.batch_seconds_max, 1)
        del data["batch_seconds_total"], data["batch_seconds_max"]
        return data


def serve(port: int | None, host: str = "127.0.0.1") -> None:
    """Expose /metrics on `port` (None: not at all)."""
    if port is not None:
        start_http_server(port, addr=host)


async def log_periodically(stats: Stats, interval_s: float) -> None:
    """Log the totals every `interval_s` until cancelled; never plate data."""
    last = time.monotonic()
    previous = stats.stored
    while True:
        await asyncio.sleep(interval_s)
        now = time.monotonic()
        rate = (stats.stored - previous) / max(now - last, 1e-9)
        last, previous = now, stats.stored
        fields = " ".join(f"{k}={v}" for k, v in stats.summary().items())
        log.info("ingest stats: %s stored_per_s=%d", fields, round(rate))
