"""Alerts over REST, the twins of the GraphQL alert fields and triage mutations.

Reading alerts is a read of plate data (`read` scope, audited, the purpose
rule); the report has no plate text. Acknowledging and closing need the
`triage` scope and take their purpose from `?purpose=` or X-Purpose; the
work and its audit record are `core.alerts`'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core import alerts, hotlists
from core.alerts import Alert, Checklist, Disposition, ReportRow, Status
from core.hotlists import Entry, Hotlist
from gateway.audit import record
from gateway.rest import Ctx, Cursor, Purpose
from schema.filters import check_window
from schema.paging import MAX_PAGE, decode_row_id, encode_row_id

router = APIRouter(prefix="/alerts", tags=["alerts"])


class AlertReadPublic(BaseModel):
    """One read of an alert; the stored read's fields are null once retention took it."""

    event_id: UUID
    captured_at: datetime
    confidence: float
    camera_id: str | None = None
    plate_text: str | None = None
    plate_normalized_text: str | None = None
    plate_region: str | None = None
    plate_image_url: str | None = None
    vehicle_image_url: str | None = None
    frame_image_url: str | None = None


class AlertDetail(BaseModel):
    """An alert with its reads, its entry and its list."""

    alert: Alert
    reads: list[AlertReadPublic]
    entry: Entry
    hotlist: Hotlist


class ChecklistBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_matches_entry: bool | None = None
    region_matches: bool | None = None
    entry_still_active: bool | None = None


class CloseBody(BaseModel):
    """How an alert ends: `confirmed` needs every checklist answer."""

    model_config = ConfigDict(extra="forbid")

    disposition: Disposition
    note: str | None = Field(default=None, max_length=2000)
    checklist: ChecklistBody | None = None


@router.get("")
async def list_alerts(
    ctx: Ctx,
    response: Response,
    status: Status | None = None,
    hotlist: str | None = None,
    priority_at_least: Annotated[int | None, Query(ge=0, le=100)] = None,
    site: str | None = None,
    camera: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    historical: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Cursor = None,
) -> list[Alert]:
    """Alerts, newest first (plate data: audited); the next page's cursor in X-Next-Cursor."""
    since, until = check_window(since, until)
    query = alerts.AlertFilter(
        status, hotlist, priority_at_least, site, camera, since, until, historical
    )
    after_id = decode_row_id(cursor, "alert", "cursor") if cursor else None
    ctx.reader.note_plate_data(0)
    found, more = await alerts.list_alerts(ctx.state.pool, query, limit, after_id)
    variables: dict[str, Any] = {
        "status": status,
        "hotlist": hotlist,
        "priority_at_least": priority_at_least,
        "site": site,
        "camera": camera,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "historical": historical,
        "limit": limit,
    }
    await record(ctx, "GET /alerts", variables, len(found))
    if more:
        response.headers["X-Next-Cursor"] = encode_row_id("alert", found[-1].alert_id)
    return found


@router.get("/report")
async def alert_report(ctx: Ctx, since: datetime, until: datetime) -> list[ReportRow]:
    """Hit counts per list, reason, state and disposition over [since, until): no plate text."""
    start, end = check_window(since, until)
    return await alerts.report(ctx.state.pool, start or since, end or until)


@router.get("/{alert_id}")
async def read_alert(ctx: Ctx, alert_id: int) -> AlertDetail:
    """One alert with its reads, entry and list (plate data: audited)."""
    ctx.reader.note_plate_data(0)
    db = ctx.state.pool
    alert = await alerts.get_alert(db, alert_id)
    reads = [_read(r) for r in await alerts.alert_reads(db, alert_id)]
    detail = AlertDetail(
        alert=alert,
        reads=reads,
        entry=await hotlists.get_entry(db, alert.entry_id),
        hotlist=await hotlists.hotlist_by_id(db, alert.hotlist_id),
    )
    await record(ctx, "GET /alerts/{alert_id}", {"alert_id": alert_id}, 1 + len(reads))
    return detail


def _read(found: alerts.AlertRead) -> AlertReadPublic:
    event = dict(found.event) if found.event is not None else {}
    stored = {name: event[name] for name in AlertReadPublic.model_fields if name in event}
    stored.update(event_id=found.event_id, captured_at=found.captured_at)
    return AlertReadPublic(confidence=found.confidence, **stored)


@router.post("/{alert_id}/acknowledge")
async def acknowledge_alert(ctx: Ctx, alert_id: int, purpose: Purpose = None) -> Alert:
    """new -> acknowledged (scope `triage`); 422 for an alert in another state."""
    pool, actor = ctx.change("triage", purpose)
    return await alerts.acknowledge(pool, alert_id, actor)


@router.post("/{alert_id}/close")
async def close_alert(ctx: Ctx, alert_id: int, body: CloseBody, purpose: Purpose = None) -> Alert:
    """Close a new or acknowledged alert with a disposition (scope `triage`)."""
    pool, actor = ctx.change("triage", purpose)
    checklist = None if body.checklist is None else Checklist(**body.checklist.model_dump())
    return await alerts.close(
        pool, alert_id, body.disposition, actor, note=body.note, checklist=checklist
    )
