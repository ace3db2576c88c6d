"""`alpr status`: the operator's essentials in a terminal.

From the database: engine, size, totals, the last read, the ingest rate over
the last minutes (from the writer's stored-batch announcements), legal holds,
the last retention run; storage: partitions (chunks) and how many are
compressed, bytes per read, and when a chunk was last compressed (read from
the chunks, not from the compression job's status); hotlists (the stale ones
named) and open alerts. From the Prometheus endpoints of the ingestor and the
gateway, when they answer: consumer lag, dead letters, pauses, live
subscribers. Nothing here reads plate text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from core import alerts, hotlists
from core.db import translated
from sql import load_queries

RATE_WINDOW_S = 300.0


@dataclass
class Status:
    """Everything `alpr status` prints, as data (tests read it)."""

    database: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, float] | None] = field(default_factory=dict)


@translated
async def database_status(conn: Any) -> dict[str, Any]:
    """Facts from the database; cheap queries only."""
    q = load_queries("status")
    facts: dict[str, Any] = dict(await conn.fetchrow(*q["database"].bind()))
    facts.update(dict(await conn.fetchrow(*q["totals"].bind())))
    stored = int(await conn.fetchval(*q["stored_since"].bind(seconds=RATE_WINDOW_S)))
    facts["ingest_rate_per_s"] = stored / RATE_WINDOW_S
    facts["last_stored_at"] = await conn.fetchval(*q["last_stored_at"].bind())
    retention = await conn.fetchrow(*q["retention"].bind())
    facts["active_holds"] = retention["active_holds"]
    facts["last_retention_run"] = retention["finished_at"]
    facts["last_retention_deleted"] = retention["deleted_rows"]
    facts["last_retention_error"] = retention["error"]
    storage = load_queries("storage")
    facts["storage"] = dict(await conn.fetchrow(*storage["facts"].bind()))
    facts["storage"].update(await conn.fetchrow(*storage["copy_facts"].bind()))
    lists = await hotlists.staleness(conn)
    facts["hotlists"] = len(lists)
    facts["stale_hotlists"] = [(s.name, s.age_s) for s in lists if s.stale]
    facts["alerts"] = await alerts.open_alerts(conn)
    return facts


def summarize_metrics(text: str) -> dict[str, float]:
    """Sum each metric family's samples (counters by their _total)."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket")):
                continue
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float] | None:
    """The summed metrics at `url`, or None when nothing answers there."""
    try:
        response = await client.get(url)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return summarize_metrics(response.text)


async def collect(pool: asyncpg.Pool[Any], endpoints: dict[str, str]) -> Status:
    """Gather the database facts and every endpoint's metrics at once."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        async with pool.acquire() as conn:
            database, *scraped = await asyncio.gather(
                database_status(conn), *(scrape(client, url) for url in endpoints.values())
            )
    return Status(database, dict(zip(endpoints, scraped, strict=True)))


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago ({moment:%Y-%m-%d %H:%M:%S}Z)"
    return f"{seconds}s ago"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _per_read(size: int, reads: int) -> str:
    return f"{size / reads:.0f} B" if reads else "n/a"


def storage_lines(facts: dict[str, Any], now: datetime) -> list[str]:
    """Partitions and compression, and the space a read takes."""
    uncompressed = _per_read(facts["uncompressed_bytes"], facts["uncompressed_reads"])
    if not facts["compression_available"]:
        return [
            f"storage         {facts['partitions']} daily partitions; compression is not "
            "available on plain PostgreSQL",
            f"space per read  {uncompressed}",
        ]
    waiting = []
    if facts["overdue_partitions"]:
        waiting.append(f"{facts['overdue_partitions']} past the compression age not yet")
    if facts["partial_partitions"]:
        waiting.append(f"{facts['partial_partitions']} with late reads to merge")
    return [
        f"storage         {facts['partitions']} chunk{'' if facts['partitions'] == 1 else 's'}, "
        f"{facts['compressed_partitions']} "
        "compressed" + (f" ({', '.join(waiting)})" if waiting else ""),
        f"compression     last chunk compressed {_age(facts['last_compressed_at'], now)}",
        f"space per read  {_per_read(facts['compressed_bytes'], facts['compressed_reads'])} "
        f"compressed, {uncompressed} uncompressed",
        *_copy_lines(facts, now),
    ]


def _copy_lines(facts: dict[str, Any], now: datetime) -> list[str]:
    """The plate-ordered copy of compressed days, when its facts were gathered."""
    if "copied_ranges" not in facts:
        return []
    return [
        f"plate copy      {facts['copied_ranges']} ranges of 30 compressed days, "
        f"{_per_read(facts['copy_bytes'], facts['copy_reads'])} a read; "
        f"last filled {_age(facts['last_copied_at'], now)}"
    ]


def _alerting(db: dict[str, Any], now: datetime) -> list[str]:
    """The hotlists line (stale lists named: names are the operators') and the alerts line."""
    if "hotlists" not in db:
        return []
    stale = ", ".join(f"{name} ({_age_s(age)} old)" for name, age in db["stale_hotlists"])
    open_ = db["alerts"]
    return [
        f"hotlists        {db['hotlists']} lists"
        + (f", STALE: {stale}" if stale else ", all fresh"),
        f"alerts          {open_['new']} new, {open_['acknowledged']} acknowledged, "
        f"last raised {_age(open_['last_raised'], now)}",
    ]


def _age_s(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def render(status: Status, now: datetime | None = None) -> list[str]:
    """The lines `alpr status` prints."""
    now = now or datetime.now(UTC)
    db = status.database
    lines = [
        f"database        {db['engine']} (PostgreSQL {db['server_version']}), "
        f"schema {db['schema_version']}, {_size(db['size_bytes'])}",
        f"reads           {db['total_events']} stored, {db['unique_plates']} plates, "
        f"{db['active_cameras']} cameras",
        f"last read       {_age(db['last_event'], now)}",
        f"ingest rate     {db['ingest_rate_per_s']:.1f}/s over the last "
        f"{int(RATE_WINDOW_S // 60)} min (last batch {_age(db['last_stored_at'], now)})",
        f"legal holds     {db['active_holds']} active",
        "retention       "
        + (
            f"last run {_age(db['last_retention_run'], now)}, "
            f"{db['last_retention_deleted']} deleted"
            + (f", error: {db['last_retention_error']}" if db["last_retention_error"] else "")
            if db["last_retention_run"]
            else "never run"
        ),
        *storage_lines(db["storage"], now),
    ]
    lines += _alerting(db, now)
    ingestor = status.metrics.get("ingestor")
    if ingestor is None:
        lines.append("ingestor        not answering on its metrics endpoint")
    else:
        lines.append(
            f"ingestor        lag {ingestor.get('alpr_ingest_consumer_lag', 0):.0f} messages, "
            f"{ingestor.get('alpr_ingest_stored_total', 0):.0f} stored, "
            f"{ingestor.get('alpr_ingest_dead_lettered_total', 0):.0f} dead letters, "
            + ("PAUSED (database outage)" if ingestor.get("alpr_ingest_paused") else "running")
        )
    gateway = status.metrics.get("gateway")
    if gateway is None:
        lines.append("gateway         not answering on its metrics endpoint")
    else:
        lines.append(
            f"gateway         {gateway.get('alpr_gateway_subscribers', 0):.0f} live subscribers, "
            f"{gateway.get('alpr_gateway_request_seconds_count', 0):.0f} requests served"
        )
    return lines
