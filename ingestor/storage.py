"""Storage gauges: how plate_events is stored, for Prometheus.

`refresh_storage_gauges` reads the facts the chunks (TimescaleDB) or daily
partitions (plain PostgreSQL) give (sql/queries/storage.sql) and sets the
`alpr_storage_*` gauges, the plate-ordered copy's among them; the service
runs it every minute, and `fill_plate_copy` too. On plain
PostgreSQL `alpr_storage_compression_available` is 0 and the compressed
gauges stay 0 (no columnstore there).
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import Gauge

from core.db import translated
from sql import load_queries

PARTITIONS = Gauge(
    "alpr_storage_partitions",
    "Time partitions of plate_events (TimescaleDB chunks, or daily partitions), by state",
    ["state"],
)
BYTES_PER_READ = Gauge(
    "alpr_storage_bytes_per_read",
    "Bytes on disk per stored read (heap, indexes, toast), compressed chunks or the others; "
    "NaN while there are none",
    ["state"],
)
LAST_COMPRESSED = Gauge(
    "alpr_storage_last_compressed_timestamp_seconds",
    "When a chunk was last compressed (Unix time, from the chunks themselves); 0 if never",
)
COMPRESSION_AVAILABLE = Gauge(
    "alpr_storage_compression_available",
    "1 on TimescaleDB (columnstore), 0 on plain PostgreSQL",
)
COPY_RANGES = Gauge(
    "alpr_storage_plate_copy_ranges",
    "30-day ranges of compressed days held again in plate order for plate histories "
    "(TimescaleDB; 0 on plain PostgreSQL)",
)
COPY_BYTES_PER_READ = Gauge(
    "alpr_storage_plate_copy_bytes_per_read",
    "Bytes on disk per read the plate-ordered copy holds; NaN while it holds none",
)
LAST_COPIED = Gauge(
    "alpr_storage_plate_copy_last_filled_timestamp_seconds",
    "When a range was last copied into the plate-ordered copy (Unix time); 0 if never",
)


def _per_read(size: int, reads: int) -> float:
    return size / reads if reads else math.nan


@translated
async def refresh_storage_gauges(conn: Any) -> int:
    """Set the storage gauges from the database; returns the partition count.
    Raises `StorageError` (the service's loop logs it and skips a turn)."""
    facts = await conn.fetchrow(*load_queries("storage")["facts"].bind())
    compressed = facts["compressed_partitions"]
    PARTITIONS.labels("compressed").set(compressed)
    PARTITIONS.labels("uncompressed").set(facts["partitions"] - compressed)
    PARTITIONS.labels("partial").set(facts["partial_partitions"])
    PARTITIONS.labels("overdue").set(facts["overdue_partitions"] or 0)
    BYTES_PER_READ.labels("compressed").set(
        _per_read(facts["compressed_bytes"], facts["compressed_reads"])
    )
    BYTES_PER_READ.labels("uncompressed").set(
        _per_read(facts["uncompressed_bytes"], facts["uncompressed_reads"])
    )
    last = facts["last_compressed_at"]
    LAST_COMPRESSED.set(last.timestamp() if last else 0)
    COMPRESSION_AVAILABLE.set(1 if facts["compression_available"] else 0)
    copy = await conn.fetchrow(*load_queries("storage")["copy_facts"].bind())
    COPY_RANGES.set(copy["copied_ranges"])
    COPY_BYTES_PER_READ.set(_per_read(copy["copy_bytes"], copy["copy_reads"]))
    last = copy["last_copied_at"]
    LAST_COPIED.set(last.timestamp() if last else 0)
    return int(facts["partitions"])


@translated
async def fill_plate_copy(conn: Any) -> int:
    """Copy the next range of compressed days into the plate-ordered copy, if
    one is ready (TimescaleDB; nothing on plain PostgreSQL); returns the
    reads copied. The service runs it every minute: one range a turn."""
    copied = await conn.fetchval(*load_queries("storage")["fill_copy"].bind())
    return int(copied or 0)
