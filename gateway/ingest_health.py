"""Ingest health for the API: the writer's newest batch (gateway.queries) and
what the ingestors publish about themselves (ingestor.health): dead
letters and Kafka consumer lag per partition. No plate data."""

from __future__ import annotations

from functools import cache

from gateway import queries
from schema.graphql.types import IngestHealth
from sql import Query, load_queries


@cache
def _queries() -> dict[str, Query]:
    return load_queries("ingest_health")


async def fetch_ingest_health(db: queries.Db) -> IngestHealth:
    """The newest batch, the ingestors heard from in the last day, each partition's lag."""
    batch = await queries.fetch_ingest_health(db)
    ingestors = await db.fetch(*_queries()["read_ingestors"].bind())
    lags = await db.fetch(*_queries()["read_lag"].bind())
    return IngestHealth.from_rows(batch, ingestors, lags)
