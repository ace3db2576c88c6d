"""The `silent` flag of every camera as Prometheus gauges, set on each scrape.

The rule is schema/cameras.py's, on the same rollups as the GraphQL
`Camera.silent` field, so an alert on the metric and the dashboard agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway import queries
from gateway.metrics import CAMERA_SILENT, CAMERAS_SILENT
from schema.cameras import HISTORY_HOURS, CameraGap, is_silent


async def export_silent(db: queries.Db) -> int:
    """Set the gauges from the database (one statement); the number of silent
    cameras. A `StorageError` leaves the gauges as they were."""
    rows = await queries.fetch_camera_gaps(db, None, HISTORY_HOURS)
    now = datetime.now(UTC)
    CAMERA_SILENT.clear()
    silent = 0
    for row in rows:
        gap = CameraGap(row["active_hours"], row["usual_gap_s"])
        flag = is_silent(gap, (now - row["last_seen"]).total_seconds())
        if flag is not None:
            CAMERA_SILENT.labels(row["camera_id"]).set(int(flag))
            silent += flag
    CAMERAS_SILENT.set(silent)
    return silent
