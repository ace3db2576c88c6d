"""Checks of plate_day_bits (0044) against plate_days, the list it is built from."""

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
