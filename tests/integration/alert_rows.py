"""Alerts for tests of reading and triage, written as the matcher would:
stored reads, an entry, an alert naming them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core import hotlists
from core.hotlists import Actor, EntrySpec, HotlistSpec
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.factories import wire_event

SETUP = Actor("setup", client="test")


async def ensure_list(pool: asyncpg.Pool[Any], name: str, priority: int = 50) -> None:
    try:
        await hotlists.get_hotlist(pool, name)
    except Exception:
        await hotlists.create_hotlist(pool, HotlistSpec(name=name, priority=priority), SETUP)


async def raise_alert(
    pool: asyncpg.Pool[Any],
    hotlist: str,
    plate: str,
    *,
    reason: str = "stolen",
    reads: int = 2,
    camera: str = "cam-1",
    site: str = "north",
    at: datetime | None = None,
    historical: bool = False,
) -> int:
    """An alert of `reads` stored reads of `plate` on a new entry of `hotlist`; its id."""
    await ensure_list(pool, hotlist)
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    entry = await hotlists.add_entry(pool, hotlist, EntrySpec(plate=plate, reason=reason), SETUP)
    events = [
        event_from_dict(
            wire_event(
                plate__text=plate,
                camera_id=camera,
                node__site=site,
                captured_at=(at + timedelta(seconds=i)).isoformat(),
                plate__confidence=0.8 + i / 100,
            )
        )
        for i in range(reads)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await write_batch(conn, events)
        best = events[-1]
        alert_id: int = await conn.fetchval(
            "INSERT INTO alerts (entry_id, hotlist_id, priority, camera_id, site_id, plate_read,"
            " cost, first_seen, last_seen, read_count, best_event_id, best_captured_at,"
            " best_confidence, historical)"
            " SELECT $1, hotlist_id, priority, $2, $3, $4, 0, $5, $6, $7, $8, $6, $9, $10"
            " FROM hotlists WHERE name = $11 RETURNING alert_id",
            entry.entry_id,
            camera,
            site,
            entry.plate,
            events[0].captured_at,
            best.captured_at,
            reads,
            best.event_id,
            best.plate_confidence,
            historical,
            hotlist,
        )
        await conn.executemany(
            "INSERT INTO alert_reads (alert_id, entry_id, event_id, captured_at, confidence)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (alert_id, entry.entry_id, e.event_id, e.captured_at, e.plate_confidence)
                for e in events
            ],
        )
    return alert_id
