"""A year of reads for bench/history.py, generated in the database.

The reads are made by SQL (`generate_series`, a day per statement) and
every table the writer keeps beside them (event_ids, plates, plate_numbers,
plate_days, plate_day_bits, cameras, camera_hourly, camera_daily,
reads_hourly, plates_hourly, plate_cameras, plate_sites and their counts)
is then computed from them in a few statements, as the writer would have
left them. `check` compares them with tests/integration/rollup_checks.py.

The mix: 10 % of reads by 100 fleet plates (a dozen a day each at 5 M
reads), 30 % by regulars (one plate per 250 reads, ~75 reads each), 60 % by
a long tail (one plate per 3.3 reads: most seen once or twice).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

_DAY_OF_READS = """
INSERT INTO plate_events (event_id, captured_at, camera_id, track_id, plate_text,
    plate_normalized_text, plate_confidence, plate_region, vehicle_type, vehicle_make,
    vehicle_color, plate_image_url, latency_ms, site_id, direction, created_at)
SELECT gen_random_uuid(),
    $1::timestamptz + make_interval(secs => (n + random()) * 86400.0 / $2),
    'cam-' || lpad(cam::text, 3, '0'), 't-' || $3::bigint + n, plate, plate,
    0.5 + random() / 2, 'US-FL',
    (ARRAY['car', 'truck', 'van', 'suv', 'bus', 'motorcycle'])[1 + floor(random() * 6)::int],
    (ARRAY['Toyota', 'Ford', 'VW', 'Honda', 'BMW', 'Tesla'])[1 + floor(random() * 6)::int],
    (ARRAY['silver', 'black', 'white', 'red', 'blue', 'grey'])[1 + floor(random() * 6)::int],
    'https://img.example/' || ($3::bigint + n) || '/p.jpg',
    20 + floor(random() * 100)::int,
    'site-' || lpad((cam % $5)::text, 2, '0'),
    (ARRAY['inbound', 'outbound'])[1 + floor(random() * 2)::int],
    now()
FROM (
    SELECT n, floor(random() * $4)::int AS cam,
        CASE WHEN kind < 0.1 THEN 'F' || lpad(floor(pick * 100)::text, 7, '0')
             WHEN kind < 0.4 THEN 'R' || lpad(floor(pick * $6)::text, 7, '0')
             ELSE 'V' || lpad(floor(pick * $7)::text, 7, '0') END AS plate
    FROM (SELECT n, random() AS kind, random() AS pick
          FROM generate_series(0, $2 - 1) AS n) AS draws
) AS reads
"""

# Each writer-kept table from the reads. Ties on the newest read are broken
# by event_id: any read at the newest time is "the newest" to the writer.
DERIVE = (
    "INSERT INTO event_ids SELECT event_id, captured_at FROM plate_events ORDER BY captured_at",
    """INSERT INTO plates (plate_normalized_text, first_seen, last_seen, read_count,
        last_region, last_camera_id)
    SELECT plate_normalized_text, min(captured_at), max(captured_at), count(*),
        (array_agg(plate_region ORDER BY captured_at DESC))[1],
        (array_agg(camera_id ORDER BY captured_at DESC))[1]
    FROM plate_events GROUP BY 1""",
    """INSERT INTO plate_numbers (plate_normalized_text)
    SELECT plate_normalized_text FROM plates ORDER BY first_seen, plate_normalized_text""",
    """INSERT INTO plate_days (day, plate_normalized_text)
    SELECT DISTINCT (captured_at AT TIME ZONE 'UTC')::date, plate_normalized_text
    FROM plate_events""",
    "SELECT alpr_rebuild_plate_day_bits(NULL)",
    """INSERT INTO cameras (camera_id, site_id, first_seen, last_seen, read_count,
        confidence_sum, latency_sum, latency_count)
    SELECT camera_id, (array_agg(site_id ORDER BY captured_at DESC))[1],
        min(captured_at), max(captured_at), count(*), sum(plate_confidence),
        COALESCE(sum(latency_ms), 0), count(latency_ms)
    FROM plate_events GROUP BY 1""",
    """INSERT INTO camera_hourly (bucket, camera_id, site_id, reads, confidence_sum,
        latency_sum, latency_count)
    SELECT date_trunc('hour', captured_at, 'UTC'), camera_id, max(site_id), count(*),
        sum(plate_confidence), COALESCE(sum(latency_ms), 0), count(latency_ms)
    FROM plate_events GROUP BY 1, 2""",
    """INSERT INTO camera_daily (day, camera_id, site_id, reads, confidence_sum,
        latency_sum, latency_count)
    SELECT (bucket AT TIME ZONE 'UTC')::date, camera_id, max(site_id), sum(reads),
        sum(confidence_sum), sum(latency_sum), sum(latency_count)
    FROM camera_hourly GROUP BY 1, 2""",
    """INSERT INTO reads_hourly (bucket, reads, confidence_sum, latency_sum, latency_count)
    SELECT bucket, sum(reads), sum(confidence_sum), sum(latency_sum), sum(latency_count)
    FROM camera_hourly GROUP BY 1""",
    """INSERT INTO plates_hourly (bucket, new_plates)
    SELECT date_trunc('hour', first_seen, 'UTC'), count(*) FROM plates GROUP BY 1""",
    """INSERT INTO plate_cameras (plate_normalized_text, camera_id, site_id, first_seen,
        last_seen, read_count)
    SELECT plate_normalized_text, camera_id, (array_agg(site_id ORDER BY captured_at DESC))[1],
        min(captured_at), max(captured_at), count(*)
    FROM plate_events GROUP BY 1, 2""",
    """INSERT INTO plate_sites (site_id, plate_normalized_text)
    SELECT DISTINCT site_id, plate_normalized_text FROM plate_events WHERE site_id IS NOT NULL""",
    """INSERT INTO site_plate_counts (site_id, plates)
    SELECT site_id, count(*) FROM plate_sites GROUP BY 1""",
    """INSERT INTO camera_plate_counts (camera_id, plates)
    SELECT camera_id, count(*) FROM plate_cameras GROUP BY 1""",
)


def _head(statement: str) -> str:
    """The statement's start on one line, to name it in the timings."""
    return " ".join(statement.split())[:60]


def first_day(days: int, end: date | None = None) -> date:
    """The first UTC day of a history of `days` days ending with today (or `end`)."""
    return (end or datetime.now(UTC).date()) - timedelta(days=days - 1)


async def generate(
    conn: asyncpg.Connection[Any], reads: int, days: int, cameras: int = 50, sites: int = 10
) -> float:
    """Store `reads` reads spread evenly over `days` UTC days ending today,
    and derive the writer's tables; seconds taken. Prints the progress and
    each derived table's seconds (where a build's time goes). The database
    must hold no reads yet."""
    started = time.perf_counter()
    start = first_day(days)
    all_days = [start + timedelta(days=d) for d in range(days)]
    await conn.fetchval("SELECT alpr_ensure_partitions($1::date[])", all_days)
    await conn.execute("SELECT setseed(0.15)")
    per_day = max(1, reads // days)
    regulars, others = max(10, reads // 250), max(10, reads * 3 // 10)
    for i, day in enumerate(all_days):
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        await conn.execute(
            _DAY_OF_READS, at, per_day, i * per_day, cameras, sites, regulars, others
        )
        if (i + 1) % 50 == 0:
            print(
                f"  {i + 1} days, {(i + 1) * per_day:,} reads, "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
    for statement in (*DERIVE, "VACUUM ANALYZE"):
        step = time.perf_counter()
        await conn.execute(statement)
        print(f"  {time.perf_counter() - step:6.0f} s  {_head(statement)}", flush=True)
    return time.perf_counter() - started
