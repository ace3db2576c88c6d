"""Checks of derived rollups against what they are derived from: plate_day_bits
(0044) against plate_days, site_plate_counts (0045) against plate_sites,
camera_plate_counts (0046) against plate_cameras."""

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


# Sites whose count is not the number of their plate_sites rows.
_MISCOUNTED_SITES = """
SELECT COALESCE(p.site_id, c.site_id) AS site_id
FROM (SELECT site_id, count(*) AS plates FROM plate_sites GROUP BY site_id) AS p
FULL JOIN site_plate_counts AS c USING (site_id)
WHERE COALESCE(p.plates, 0) <> COALESCE(c.plates, 0)
ORDER BY 1
"""


async def miscounted_sites(pool: asyncpg.Pool[Any]) -> list[str]:
    return [row["site_id"] for row in await pool.fetch(_MISCOUNTED_SITES)]


_MISCOUNTED_CAMERAS = """
SELECT COALESCE(p.camera_id, c.camera_id) AS camera_id
FROM (SELECT camera_id, count(*) AS plates FROM plate_cameras GROUP BY camera_id) AS p
FULL JOIN camera_plate_counts AS c USING (camera_id)
WHERE COALESCE(p.plates, 0) <> COALESCE(c.plates, 0)
ORDER BY 1
"""


async def miscounted_cameras(pool: asyncpg.Pool[Any]) -> list[str]:
    return [row["camera_id"] for row in await pool.fetch(_MISCOUNTED_CAMERAS)]
