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
    """Set the gauges from the database; the number of silent cameras.
    A `StorageError` leaves the gauges as they were."""
    cameras = await queries.list_cameras(db, None)
    rows = await queries.fetch_camera_gaps(db, [c["camera_id"] for c in cameras], HISTORY_HOURS)
    gaps = CameraGap.by_camera(rows)
    now = datetime.now(UTC)
    CAMERA_SILENT.clear()
    silent = 0
    for camera in cameras:
        flag = is_silent(gaps.get(camera["camera_id"]), (now - camera["last_seen"]).total_seconds())
        if flag is not None:
            CAMERA_SILENT.labels(camera["camera_id"]).set(int(flag))
            silent += flag
    CAMERAS_SILENT.set(silent)
    return silent
