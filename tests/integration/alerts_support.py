"""Hotlists, entries and reads for the alert matcher's tests, by plain SQL and
the ingestor's writer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from alerts.follower import Follower
from alerts.matcher import Matcher
from core.settings import AlertSettings
from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


async def add_list(
    conn: asyncpg.Connection[Any] | asyncpg.Pool[Any], name: str | None = None, **values: Any
) -> int:
    values = {"name": name or f"list {tag()}", "created_by": "test", **values}
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return int(
        await conn.fetchval(
            f"INSERT INTO hotlists ({columns}) VALUES ({params}) RETURNING hotlist_id",
            *values.values(),
        )
    )


async def add_entry(
    conn: asyncpg.Connection[Any] | asyncpg.Pool[Any], hotlist_id: int, plate: str, **values: Any
) -> int:
    values = {
        "hotlist_id": hotlist_id,
        "plate": plate,
        "reason": "stolen",
        "added_by": "test",
        **values,
    }
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    entry_id = int(
        await conn.fetchval(
            f"INSERT INTO hotlist_entries ({columns}) VALUES ({params}) RETURNING entry_id",
            *values.values(),
        )
    )
    await conn.execute(
        "UPDATE hotlists SET revision = revision + 1 WHERE hotlist_id = $1", hotlist_id
    )
    return entry_id


def read(plate: str, camera: str, at: datetime | None = None, **changes: Any) -> PlateEvent:
    at = at or datetime.now(UTC)
    return event_from_dict(
        wire_event(
            camera_id=camera,
            captured_at=at.isoformat(),
            plate__text=plate,
            plate__normalized_text=plate,
            **changes,
        )
    )


async def store(pool: asyncpg.Pool[Any], events: list[PlateEvent]) -> None:
    async with pool.acquire() as conn:
        await write_batch(conn, events)


def settings(database_url: str, **changes: Any) -> AlertSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "alerts_metrics_port": None,
        "alert_poll_interval_s": 0.2,
    }
    values.update(changes)
    return AlertSettings(**values)


async def new_matcher(conn: asyncpg.Connection[Any], database_url: str, **changes: Any) -> Matcher:
    """A matcher with a follower of its own, starting at the present."""
    matcher = Matcher(settings(database_url, **changes), follower=Follower(f"test-{tag()}"))
    await matcher.follower.start(conn)
    return matcher


async def drain(matcher: Matcher, conn: asyncpg.Connection[Any]) -> int:
    """Run rounds until no batch is left; returns how many were handled."""
    total = 0
    while handled := await matcher.round_once(conn):
        total += handled
    return total


async def alerts_of(pool: asyncpg.Pool[Any], entry_id: int) -> list[asyncpg.Record]:
    return list(
        await pool.fetch("SELECT * FROM alerts WHERE entry_id = $1 ORDER BY alert_id", entry_id)
    )


def minutes_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)
