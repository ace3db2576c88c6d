"""Checks of derived rollups against what they are derived from: plate_day_bits
against plate_days, site_plate_counts against plate_sites, camera_plate_counts
against plate_cameras, reads_hourly against camera_hourly."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

# Days whose bitmaps do not hold exactly as many plates as plate_days lists.
_MISMATCHED_DAYS = """
SELECT COALESCE(d.day, b.day) AS day
FROM (SELECT day, count(*) AS plates FROM plate_days GROUP BY day) AS d
FULL JOIN (
    SELECT day, sum(bit_count(bits)) AS plates FROM plate_day_bits GROUP BY day
) AS b USING (day)
WHERE COALESCE(d.plates, 0) <> COALESCE(b.plates, 0)
ORDER BY 1
"""
WINDOW_FROM_BITS = """
SELECT COALESCE(sum(bit_count(bits)), 0) FROM (
    SELECT bit_or(bits) AS bits FROM plate_day_bits WHERE day >= $1 AND day < $2 GROUP BY chunk
) AS window_plates
"""
WINDOW_FROM_DAYS = """
SELECT count(DISTINCT plate_normalized_text) FROM plate_days WHERE day >= $1 AND day < $2
"""


async def mismatched_days(pool: asyncpg.Pool[Any]) -> list[date]:
    return [row["day"] for row in await pool.fetch(_MISMATCHED_DAYS)]


async def window_counts(pool: asyncpg.Pool[Any], start: date, end: date) -> tuple[int, int]:
    """Distinct plates in [start, end): from the bitmaps, and from plate_days."""
    return (
        int(await pool.fetchval(WINDOW_FROM_BITS, start, end)),
        int(await pool.fetchval(WINDOW_FROM_DAYS, start, end)),
    )


async def _miscounted(pool: asyncpg.Pool[Any], pairs: str, counts: str, key: str) -> list[str]:
    """The keys whose row in `counts` does not hold their number of `pairs` rows."""
    query = f"""
        SELECT COALESCE(p.{key}, c.{key}) AS key
        FROM (SELECT {key}, count(*) AS plates FROM {pairs} GROUP BY {key}) AS p
        FULL JOIN {counts} AS c USING ({key})
        WHERE COALESCE(p.plates, 0) <> COALESCE(c.plates, 0)
        ORDER BY 1
    """
    return [row["key"] for row in await pool.fetch(query)]


async def miscounted_sites(pool: asyncpg.Pool[Any]) -> list[str]:
    return await _miscounted(pool, "plate_sites", "site_plate_counts", "site_id")


async def miscounted_cameras(pool: asyncpg.Pool[Any]) -> list[str]:
    return await _miscounted(pool, "plate_cameras", "camera_plate_counts", "camera_id")


# Hours whose all-camera row is not the sum of the per-camera rows.
_MISMATCHED_HOURS = """
SELECT COALESCE(c.bucket, r.bucket) AS bucket
FROM (
    SELECT bucket, sum(reads) AS reads, sum(confidence_sum) AS confidence_sum,
        sum(latency_sum) AS latency_sum, sum(latency_count) AS latency_count
    FROM camera_hourly GROUP BY bucket
) AS c
FULL JOIN reads_hourly AS r USING (bucket)
WHERE (c.reads, c.latency_sum, c.latency_count)
      IS DISTINCT FROM (r.reads, r.latency_sum, r.latency_count)
   OR abs(c.confidence_sum - r.confidence_sum) > 1e-6
ORDER BY 1
"""


async def mismatched_hours(pool: asyncpg.Pool[Any]) -> list[Any]:
    return [row["bucket"] for row in await pool.fetch(_MISMATCHED_HOURS)]
