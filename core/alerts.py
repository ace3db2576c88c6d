"""Alerts: reading them, triage, and the counts of a public report.

The matcher (`alerts/`) raises alerts; `alpr alerts`, the gateway's GraphQL
fields and its `/alerts` routes read and triage them through these
functions. An alert holds plate data: callers audit every read of one (the
gateway through its audit extension, the CLI with `write_audit`). Triage
moves an alert new -> acknowledged -> closed (a new alert may be closed at
once; nothing leaves `closed`), records who and when, and writes its audit
record in the same transaction. Closing as `confirmed` needs every answer
of the verification checklist (the image matches the entry, the region
matches, the entry is still active).

Failures: `NotFound` for an unknown alert, `InvalidRequest` for a step the
alert's state does not allow or a disposition without what it needs,
`StorageError` for the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict

from core.db import translated
from core.hotlists import Actor, known_id, write_audit
from schema.errors import InvalidRequest, NotFound
from sql import Query, fill, load_blocks

Status = Literal["new", "acknowledged", "closed"]
STATUSES: tuple[Status, ...] = ("new", "acknowledged", "closed")
Disposition = Literal["confirmed", "misread", "entry_outdated", "no_action"]
DISPOSITIONS: tuple[Disposition, ...] = ("confirmed", "misread", "entry_outdated", "no_action")
MAX_ALERT_PAGE = 500
MAX_NOTE = 2000


@cache
def _queries() -> dict[str, Query]:
    blocks = load_blocks("alerts")
    columns = blocks["alert_columns"]
    return {
        name: Query.parse(fill(source, alert_columns=columns) if "{" in source else source)
        for name, source in blocks.items()
        if name != "alert_columns"
    }


def _q(query: str, **values: Any) -> tuple[Any, ...]:
    return _queries()[query].bind(**values)


class Alert(BaseModel):
    """An alert as stored, with its list's name, its entry's reason, plate and region."""

    model_config = ConfigDict(frozen=True)

    alert_id: int
    entry_id: int
    hotlist_id: int
    hotlist: str
    reason: str
    priority: int
    camera_id: str
    site_id: str | None
    plate_read: str
    entry_plate: str
    entry_region: str | None
    cost: float
    edits: list[dict[str, Any]]
    region_mismatch: bool
    historical: bool
    first_seen: datetime
    last_seen: datetime
    read_count: int
    best_event_id: UUID
    best_captured_at: datetime
    best_confidence: float
    raised_at: datetime
    status: Status
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    disposition: Disposition | None
    disposition_note: str | None
    checklist: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        data = dict(row)
        data["edits"] = json.loads(data["edits"])
        data["checklist"] = json.loads(data["checklist"]) if data["checklist"] else None
        return cls.model_validate(data)


@dataclass(frozen=True)
class AlertRead:
    """One read of an alert: what alert_reads kept, and the stored read
    (`event`, its row) while retention has not taken it."""

    event_id: UUID
    captured_at: datetime
    confidence: float
    event: Mapping[str, Any] | None


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to page through; None narrows nothing. `since`/`until`:
    alerts whose pass overlaps the window."""

    status: Status | None = None
    hotlist: str | None = None
    priority_at_least: int | None = None
    site_id: str | None = None
    camera_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    historical: bool | None = None


@dataclass(frozen=True)
class Checklist:
    """The verification before anyone acts on a hit; None is not answered."""

    image_matches_entry: bool | None = None
    region_matches: bool | None = None
    entry_still_active: bool | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.image_matches_entry, self.region_matches, self.entry_still_active)

    def as_json(self) -> dict[str, bool | None]:
        return {
            "image_matches_entry": self.image_matches_entry,
            "region_matches": self.region_matches,
            "entry_still_active": self.entry_still_active,
        }


@dataclass(frozen=True)
class ReportRow:
    """Hits of one list, reason, state and disposition: counts, no plate."""

    hotlist: str
    reason: str
    status: Status
    disposition: Disposition | None
    historical: bool
    alerts: int
    reads: int


@translated
async def list_alerts(
    db: Any, alert_filter: AlertFilter, first: int, after_id: int | None = None
) -> tuple[list[Alert], bool]:
    """A page of alerts, newest first, after alert `after_id`; (alerts, whether more follow)."""
    if not 1 <= first <= MAX_ALERT_PAGE:
        raise InvalidRequest("first", f"must be between 1 and {MAX_ALERT_PAGE}")
    if alert_filter.status is not None and alert_filter.status not in STATUSES:
        raise InvalidRequest("status", f"must be one of {', '.join(STATUSES)}")
    rows = await db.fetch(
        *_q(
            "alerts_page",
            after_id=after_id,
            status=alert_filter.status,
            hotlist=alert_filter.hotlist,
            priority_at_least=alert_filter.priority_at_least,
            site_id=alert_filter.site_id,
            camera_id=alert_filter.camera_id,
            since=alert_filter.since,
            until=alert_filter.until,
            historical=alert_filter.historical,
            limit=first + 1,
        )
    )
    return [Alert.from_row(row) for row in rows[:first]], len(rows) > first


async def _alert(db: Any, alert_id: int) -> Alert:
    known_id(alert_id, "alert")
    row = await db.fetchrow(*_q("alert_by_id", alert_id=alert_id))
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return Alert.from_row(row)


@translated
async def get_alert(db: Any, alert_id: int) -> Alert:
    """One alert; NotFound otherwise."""
    return await _alert(db, alert_id)


@translated
async def alert_reads(db: Any, alert_id: int) -> list[AlertRead]:
    """The reads of an alert, in the order seen."""
    known_id(alert_id, "alert")
    rows = await db.fetch(*_q("alert_reads", alert_id=alert_id))
    return [
        AlertRead(
            row["alert_event_id"],
            row["alert_captured_at"],
            row["alert_confidence"],
            row if row["event_id"] is not None else None,
        )
        for row in rows
    ]


async def _locked_status(conn: Any, alert_id: int) -> str:
    known_id(alert_id, "alert")
    row = await conn.fetchrow(*_q("lock_alert", alert_id=alert_id))
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return str(row["status"])


@translated
async def acknowledge(pool: asyncpg.Pool[Any], alert_id: int, actor: Actor) -> Alert:
    """new -> acknowledged; InvalidRequest("id") for an alert in any other state."""
    async with pool.acquire() as conn, conn.transaction():
        status = await _locked_status(conn, alert_id)
        if status != "new":
            raise InvalidRequest(
                "id", f"alert {alert_id} is {status}: only a new alert is acknowledged"
            )
        await conn.execute(*_q("acknowledge_alert", alert_id=alert_id, by=actor.name))
        await write_audit(conn, actor, "alert.acknowledge", {"alert_id": alert_id})
        return await _alert(conn, alert_id)


@translated
async def close(
    pool: asyncpg.Pool[Any],
    alert_id: int,
    disposition: str,
    actor: Actor,
    *,
    note: str | None = None,
    checklist: Checklist | None = None,
) -> Alert:
    """new or acknowledged -> closed with a disposition (and note). InvalidRequest
    for an unknown disposition, `confirmed` without every checklist answer, or
    an alert already closed."""
    if disposition not in DISPOSITIONS:
        raise InvalidRequest("disposition", f"must be one of {', '.join(DISPOSITIONS)}")
    if disposition == "confirmed" and (checklist is None or not checklist.complete):
        raise InvalidRequest(
            "checklist",
            "closing as confirmed needs every answer: imageMatchesEntry, regionMatches, "
            "entryStillActive",
        )
    note = note.strip() if note and note.strip() else None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidRequest("note", f"longer than {MAX_NOTE} characters")
    answers = None if checklist is None else checklist.as_json()
    async with pool.acquire() as conn, conn.transaction():
        status = await _locked_status(conn, alert_id)
        if status == "closed":
            raise InvalidRequest("id", f"alert {alert_id} is closed already")
        await conn.execute(
            *_q(
                "close_alert",
                alert_id=alert_id,
                by=actor.name,
                disposition=disposition,
                note=note,
                checklist=None if answers is None else json.dumps(answers),
            )
        )
        audited = {"alert_id": alert_id, "disposition": disposition, "note": note}
        await write_audit(conn, actor, "alert.close", {**audited, "checklist": answers})
        return await _alert(conn, alert_id)


@translated
async def latest_alert_id(db: Any) -> int:
    """The newest alert's id (0 when there is none): where a live feed starts."""
    return int(await db.fetchval(*_q("latest_alert")))


@translated
async def raised_after(db: Any, after_id: int, limit: int) -> tuple[list[Alert], int]:
    """Up to `limit` live (not historical) alerts after `after_id`, in id
    order, and the position to continue from: the last one's id when the page
    is full, else the newest alert's id when they were read.

    Ids are taken in commit order because one matcher raises alerts, one
    round (one transaction) at a time; a live feed that keeps the position
    sees every alert once.
    """
    rows = await db.fetch(*_q("raised_after", after_id=after_id, limit=limit))
    found = [Alert.from_row(row) for row in rows if row["alert_id"] is not None]
    if len(found) == limit:
        return found, found[-1].alert_id
    return found, max(after_id, int(rows[0]["newest"]))


@translated
async def report(db: Any, since: datetime, until: datetime) -> list[ReportRow]:
    """Hit counts over [since, until) (by the pass's first read) per list,
    reason, state and disposition; InvalidRequest("until") for an empty window."""
    if since >= until:
        raise InvalidRequest("until", "must be after since")
    rows = await db.fetch(*_q("report", since=since, until=until))
    return [ReportRow(**dict(row)) for row in rows]


@translated
async def open_alerts(db: Any) -> dict[str, Any]:
    """Counts of new and acknowledged alerts and when the last was raised (`alpr status`)."""
    return dict(await db.fetchrow(*_q("open_alerts")))
