"""Checks of derived rollups against what they are derived from: plate_day_bits
against plate_days, site_plate_counts against plate_sites, camera_plate_counts
against plate_cameras, reads_hourly against camera_hourly; and
`recomputed_mismatches`, every writer-kept table against its recomputation
from the reads."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from typing import TypeAlias

    from asyncpg.pool import PoolConnectionProxy

    # A pool, or a connection (inside a transaction, say): the checks only fetch.
    Db: TypeAlias = asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any]

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


async def mismatched_days(pool: Db) -> list[date]:
    return [row["day"] for row in await pool.fetch(_MISMATCHED_DAYS)]


async def window_counts(pool: Db, start: date, end: date) -> tuple[int, int]:
    """Distinct plates in [start, end): from the bitmaps, and from plate_days."""
    return (
        int(await pool.fetchval(WINDOW_FROM_BITS, start, end)),
        int(await pool.fetchval(WINDOW_FROM_DAYS, start, end)),
    )


async def _miscounted(pool: Db, pairs: str, counts: str, key: str) -> list[str]:
    """The keys whose row in `counts` does not hold their number of `pairs` rows."""
    query = f"""
        SELECT COALESCE(p.{key}, c.{key}) AS key
        FROM (SELECT {key}, count(*) AS plates FROM {pairs} GROUP BY {key}) AS p
        FULL JOIN {counts} AS c USING ({key})
        WHERE COALESCE(p.plates, 0) <> COALESCE(c.plates, 0)
        ORDER BY 1
    """
    return [row["key"] for row in await pool.fetch(query)]


async def miscounted_sites(pool: Db) -> list[str]:
    return await _miscounted(pool, "plate_sites", "site_plate_counts", "site_id")


async def miscounted_cameras(pool: Db) -> list[str]:
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


async def mismatched_hours(pool: Db) -> list[Any]:
    return [row["bucket"] for row in await pool.fetch(_MISMATCHED_HOURS)]


# Every writer-kept table against its recomputation from plate_events (and the
# plate numbers and counts against the tables they count). Each query lists
# the keys, as text, whose row differs from what the reads say, or that one
# side has and the other lacks. Sums of floats compare with a relative
# tolerance: the order of addition differs. Where the writer keeps "the newest
# read's" region, camera or site, a row passes if some read at that newest
# time has it (reads at the same instant are equally newest).
_CLOSE = "abs({a} - {b}) <= 1e-9 * greatest(1, abs({a}))"

_RECOMPUTED: dict[str, str] = {
    "plates": """
        WITH r AS (
            SELECT plate_normalized_text, min(captured_at) AS first_seen,
                max(captured_at) AS last_seen, count(*) AS read_count
            FROM plate_events GROUP BY 1
        )
        SELECT plate_normalized_text AS key
        FROM r FULL JOIN plates AS p USING (plate_normalized_text)
        WHERE (r.first_seen, r.last_seen, r.read_count)
              IS DISTINCT FROM (p.first_seen, p.last_seen, p.read_count)
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.plate_normalized_text = p.plate_normalized_text
                  AND e.captured_at = p.last_seen AND e.plate_region = p.last_region)
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.plate_normalized_text = p.plate_normalized_text
                  AND e.captured_at = p.last_seen AND e.camera_id = p.last_camera_id)
        ORDER BY 1
    """,
    "plate_numbers": """
        SELECT plate_normalized_text AS key
        FROM plates AS p FULL JOIN plate_numbers AS n USING (plate_normalized_text)
        WHERE p.plate_normalized_text IS NULL OR n.plate_normalized_text IS NULL
        ORDER BY 1
    """,
    "plate_cameras": """
        WITH r AS (
            SELECT plate_normalized_text, camera_id, min(captured_at) AS first_seen,
                max(captured_at) AS last_seen, count(*) AS read_count
            FROM plate_events GROUP BY 1, 2
        )
        SELECT plate_normalized_text || ' at ' || camera_id AS key
        FROM r FULL JOIN plate_cameras AS pc USING (plate_normalized_text, camera_id)
        WHERE (r.first_seen, r.last_seen, r.read_count)
              IS DISTINCT FROM (pc.first_seen, pc.last_seen, pc.read_count)
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.plate_normalized_text = pc.plate_normalized_text
                  AND e.camera_id = pc.camera_id AND e.captured_at = pc.last_seen
                  AND e.site_id IS NOT DISTINCT FROM pc.site_id)
        ORDER BY 1
    """,
    "cameras": f"""
        WITH r AS (
            SELECT camera_id, min(captured_at) AS first_seen, max(captured_at) AS last_seen,
                count(*) AS read_count, sum(plate_confidence) AS confidence_sum,
                COALESCE(sum(latency_ms), 0) AS latency_sum, count(latency_ms) AS latency_count
            FROM plate_events GROUP BY 1
        )
        SELECT camera_id AS key
        FROM r FULL JOIN cameras AS c USING (camera_id)
        WHERE (r.first_seen, r.last_seen, r.read_count, r.latency_sum, r.latency_count)
              IS DISTINCT FROM (c.first_seen, c.last_seen, c.read_count, c.latency_sum,
                  c.latency_count)
           OR NOT {_CLOSE.format(a="r.confidence_sum", b="c.confidence_sum")}
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.camera_id = c.camera_id AND e.captured_at = c.last_seen
                  AND e.site_id IS NOT DISTINCT FROM c.site_id)
        ORDER BY 1
    """,
    "camera_hourly": f"""
        WITH r AS (
            SELECT date_trunc('hour', captured_at, 'UTC') AS bucket, camera_id,
                count(*) AS reads, sum(plate_confidence) AS confidence_sum,
                COALESCE(sum(latency_ms), 0) AS latency_sum, count(latency_ms) AS latency_count
            FROM plate_events GROUP BY 1, 2
        )
        SELECT camera_id || ' ' || bucket::text AS key
        FROM r FULL JOIN camera_hourly AS c USING (bucket, camera_id)
        WHERE (r.reads, r.latency_sum, r.latency_count)
              IS DISTINCT FROM (c.reads, c.latency_sum, c.latency_count)
           OR NOT {_CLOSE.format(a="r.confidence_sum", b="c.confidence_sum")}
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.camera_id = c.camera_id AND e.captured_at >= c.bucket
                  AND e.captured_at < c.bucket + interval '1 hour'
                  AND e.site_id IS NOT DISTINCT FROM c.site_id)
        ORDER BY 1
    """,
    "camera_daily": f"""
        WITH r AS (
            SELECT (captured_at AT TIME ZONE 'UTC')::date AS day, camera_id,
                count(*) AS reads, sum(plate_confidence) AS confidence_sum,
                COALESCE(sum(latency_ms), 0) AS latency_sum, count(latency_ms) AS latency_count
            FROM plate_events GROUP BY 1, 2
        )
        SELECT camera_id || ' ' || day::text AS key
        FROM r FULL JOIN camera_daily AS c USING (day, camera_id)
        WHERE (r.reads, r.latency_sum, r.latency_count)
              IS DISTINCT FROM (c.reads, c.latency_sum, c.latency_count)
           OR NOT {_CLOSE.format(a="r.confidence_sum", b="c.confidence_sum")}
           OR NOT EXISTS (
                SELECT 1 FROM plate_events AS e
                WHERE e.camera_id = c.camera_id
                  AND e.captured_at >= (c.day::timestamp AT TIME ZONE 'UTC')
                  AND e.captured_at < ((c.day + 1)::timestamp AT TIME ZONE 'UTC')
                  AND e.site_id IS NOT DISTINCT FROM c.site_id)
        ORDER BY 1
    """,
    "reads_hourly": f"""
        WITH r AS (
            SELECT date_trunc('hour', captured_at, 'UTC') AS bucket, count(*) AS reads,
                sum(plate_confidence) AS confidence_sum,
                COALESCE(sum(latency_ms), 0) AS latency_sum, count(latency_ms) AS latency_count
            FROM plate_events GROUP BY 1
        )
        SELECT bucket::text AS key
        FROM r FULL JOIN reads_hourly AS h USING (bucket)
        WHERE (r.reads, r.latency_sum, r.latency_count)
              IS DISTINCT FROM (h.reads, h.latency_sum, h.latency_count)
           OR NOT {_CLOSE.format(a="r.confidence_sum", b="h.confidence_sum")}
        ORDER BY 1
    """,
    # A plate counts once, in the hour of its first read.
    "plates_hourly": """
        WITH r AS (
            SELECT date_trunc('hour', first_seen, 'UTC') AS bucket, count(*) AS new_plates
            FROM (
                SELECT min(captured_at) AS first_seen FROM plate_events
                GROUP BY plate_normalized_text
            ) AS plates
            GROUP BY 1
        )
        SELECT bucket::text AS key
        FROM r FULL JOIN plates_hourly AS h USING (bucket)
        WHERE COALESCE(r.new_plates, 0) <> COALESCE(h.new_plates, 0)
        ORDER BY 1
    """,
    "plate_days": """
        SELECT day::text || ' ' || plate_normalized_text AS key
        FROM (
            SELECT DISTINCT (captured_at AT TIME ZONE 'UTC')::date AS day, plate_normalized_text
            FROM plate_events
        ) AS r
        FULL JOIN plate_days AS d USING (day, plate_normalized_text)
        WHERE r.day IS NULL OR d.day IS NULL
        ORDER BY 1
    """,
    # The bit of each plate of a day is set (mismatched_days says no other is).
    "plate_day_bits": """
        SELECT d.day::text || ' ' || d.plate_normalized_text AS key
        FROM plate_days AS d
        LEFT JOIN plate_numbers AS n USING (plate_normalized_text)
        LEFT JOIN plate_day_bits AS b ON b.chunk = n.plate_id >> 14 AND b.day = d.day
        WHERE b.bits IS NULL OR get_bit(b.bits, n.plate_id & 16383) = 0
        ORDER BY 1
    """,
    "plate_sites": """
        SELECT site_id || ' ' || plate_normalized_text AS key
        FROM (
            SELECT DISTINCT site_id, plate_normalized_text FROM plate_events
            WHERE site_id IS NOT NULL
        ) AS r
        FULL JOIN plate_sites AS s USING (site_id, plate_normalized_text)
        WHERE r.site_id IS NULL OR s.site_id IS NULL
        ORDER BY 1
    """,
}


CHECKED_TABLES = (*_RECOMPUTED, "site_plate_counts", "camera_plate_counts")


async def recomputed_mismatches(pool: Db) -> dict[str, list[str]]:
    """Every rollup against its recomputation: table -> the keys that differ (empty: equal).

    Covers plates, plate_numbers, plate_cameras, cameras, camera_hourly,
    camera_daily, reads_hourly (from the reads and from camera_hourly),
    plates_hourly, plate_days, plate_day_bits (bits and counts), plate_sites,
    site_plate_counts and camera_plate_counts. Meant for a database that only
    a writer has touched: retention changes what the reads can recompute.
    """
    found = {
        name: [str(row["key"]) for row in await pool.fetch(query)]
        for name, query in _RECOMPUTED.items()
    }
    found["plate_day_bits"] += [f"count on {day}" for day in await mismatched_days(pool)]
    found["reads_hourly"] += [f"{b} vs camera_hourly" for b in await mismatched_hours(pool)]
    found["site_plate_counts"] = await miscounted_sites(pool)
    found["camera_plate_counts"] = await miscounted_cameras(pool)
    return found
