"""Publishing the ingestor's health to the database, for the gateway.

Every `INTERVAL_S` the process writes its totals since start (dead letters
and the last one's time among them) and the newest consumer lag of each
Kafka partition assigned to it (rows of partitions it lost are deleted), as
rows keyed by `host:pid` (tables `ingestor_status`, `ingestor_lag`). The
gateway's `ingestHealth` reads them; it cannot reach the ingestor's
Prometheus endpoint. A clean stop marks the row stopped; rows silent for a
day are pruned. An outage skips a turn (`service.periodically`): health is
best effort and never blocks ingest.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from core.db import translated
from ingestor.metrics import Stats
from sql import Query, load_queries

INTERVAL_S = 5.0


@cache
def _queries() -> dict[str, Query]:
    return load_queries("ingest_health")


@dataclass(frozen=True)
class Publisher:
    """What one process publishes about itself."""

    stats: Stats
    sources: tuple[str, ...]
    ingestor: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @translated
    async def publish(self, conn: Any) -> int:
        """Write the status row and the lag rows in one transaction; returns
        how many partitions were published."""
        q = _queries()
        s = self.stats
        lags = sorted(s.lags.items())
        async with conn.transaction():
            await conn.execute(
                *q["publish_status"].bind(
                    ingestor=self.ingestor,
                    sources=list(self.sources),
                    started_at=self.started_at,
                    consumed=s.consumed,
                    stored=s.stored,
                    duplicates=s.duplicates,
                    dead_lettered=s.dead_lettered,
                    last_dead_letter_at=s.last_dead_letter_at,
                )
            )
            topics = [topic for (topic, _), _ in lags]
            partitions = [part for (_, part), _ in lags]
            await conn.execute(
                *q["prune_lag"].bind(ingestor=self.ingestor, topics=topics, partitions=partitions)
            )
            if lags:
                await conn.execute(
                    *q["publish_lag"].bind(
                        ingestor=self.ingestor,
                        topics=topics,
                        partitions=partitions,
                        lags=[lag.lag for _, lag in lags],
                        measured=[lag.measured_at for _, lag in lags],
                    )
                )
            await conn.execute(*q["prune_status"].bind())
        return len(lags)

    @translated
    async def stopped(self, conn: Any) -> None:
        """Publish the final totals and mark this process stopped."""
        await self.publish(conn)
        await conn.execute(*_queries()["mark_stopped"].bind(ingestor=self.ingestor))
