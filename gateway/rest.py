"""The storage-layer document's REST endpoints, over the same query functions as GraphQL.

Paths and field names are the document's. Lists of reads are JSON arrays;
where a cursor continues a list it is sent in the `X-Next-Cursor` header, so
the body keeps the document's shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from gateway import queries
from gateway.audit import record
from gateway.auth import identify, token_from_headers
from gateway.context import Context, GatewayState, clean_purpose
from schema.errors import InvalidRequest, NotFound
from schema.filters import EventQuery, check_id, check_plate, check_window
from schema.paging import MAX_PAGE, PageRequest, encode_cursor

MAX_OFFSET = 10_000


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def rest_context(request: Request) -> Context:
    """The caller's identity and purpose, checked like a GraphQL request's."""
    state = gateway_state(request)
    client = request.client.host if request.client else None
    key = await identify(state, token_from_headers(request.headers), client, "rest")
    return Context(state, key, clean_purpose(request.headers.get("x-purpose")), client)


Ctx = Annotated[Context, Depends(rest_context)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1 to 500")]


class EventPublic(BaseModel):
    """One read, with the storage-layer document's field names."""

    event_id: UUID
    captured_at: datetime
    camera_id: str
    track_id: str
    plate_text: str
    plate_normalized_text: str
    plate_confidence: float
    plate_region: str
    vehicle_type: str | None
    vehicle_make: str | None
    vehicle_model: str | None
    vehicle_color: str | None
    plate_image_url: str | None
    vehicle_image_url: str | None
    frame_image_url: str | None
    latency_ms: int | None
    quality_score: float | None
    frame_number: int | None
    site_id: str | None
    host_id: str | None
    roi: str | None
    direction: str | None
    created_at: datetime | None


class StatsPublic(BaseModel):
    is_connected: bool
    total_events: int
    unique_plates: int
    active_cameras: int
    avg_confidence: float | None
    avg_latency_ms: float | None


class AuditPublic(BaseModel):
    audit_id: int
    at: datetime
    key_id: str | None
    client: str | None
    operation: str
    variables: str
    result_count: int | None
    purpose: str | None


def _public(rows: list[queries.Row]) -> list[EventPublic]:
    return [EventPublic.model_validate(dict(row)) for row in rows]


async def _audited(
    ctx: Context, operation: str, variables: dict[str, Any], rows: list[queries.Row]
) -> list[EventPublic]:
    ctx.reader.note_plate_data(len(rows))
    await record(ctx, operation, variables, len(rows))
    return _public(rows)


events = APIRouter(prefix="/events", tags=["events"])


@events.get("/recent", response_model=list[EventPublic])
async def read_recent_events(ctx: Ctx, limit: Limit = 100) -> list[EventPublic]:
    """The newest reads."""
    ctx.reader.note_plate_data(0)
    rows, _ = await queries.fetch_events(ctx.state.read_pool, EventQuery(), PageRequest(limit))
    return await _audited(ctx, "GET /events/recent", {"limit": limit}, rows)


@events.get("/plate/{plate_text}", response_model=list[EventPublic])
async def read_events_by_plate(
    ctx: Ctx,
    response: Response,
    plate_text: str,
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[str | None, Query(description="X-Next-Cursor of the previous page")] = None,
) -> list[EventPublic]:
    """A plate's reads, newest first: by offset (as documented) or, faster, by cursor."""
    plate = check_plate(plate_text, "plate_text")
    ctx.reader.note_plate_data(0)
    if cursor is not None:
        if offset:
            raise InvalidRequest("offset", "give either offset or cursor, not both")
        page = PageRequest.from_args(first=limit, after=cursor)
        rows, more = await queries.fetch_events(ctx.state.read_pool, EventQuery(plate=plate), page)
    else:
        rows = await queries.fetch_events_by_offset(ctx.state.read_pool, plate, limit + 1, offset)
        more = len(rows) > limit
        rows = rows[:limit]
    if more and rows:
        response.headers["X-Next-Cursor"] = encode_cursor(
            rows[-1]["captured_at"], rows[-1]["event_id"]
        )
    variables = {"plate_text": plate_text, "limit": limit, "offset": offset, "cursor": cursor}
    return await _audited(ctx, "GET /events/plate/{plate_text}", variables, rows)


@events.get("/camera/{camera_id}", response_model=list[EventPublic])
async def read_events_by_camera(
    ctx: Ctx,
    camera_id: str,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    limit: Limit = 100,
) -> list[EventPublic]:
    """A camera's reads in a time range, newest first."""
    check_id(camera_id, "camera_id")
    since, until = check_window(start_time, end_time, ("start_time", "end_time"))
    ctx.reader.note_plate_data(0)
    query = EventQuery(camera_id=camera_id, since=since, until=until)
    rows, _ = await queries.fetch_events(ctx.state.read_pool, query, PageRequest(limit))
    variables = {"camera_id": camera_id, "start_time": start_time, "end_time": end_time}
    return await _audited(
        ctx, "GET /events/camera/{camera_id}", {**variables, "limit": limit}, rows
    )


@events.get("/{event_id}", response_model=EventPublic)
async def read_event(ctx: Ctx, event_id: str) -> EventPublic:
    """One read by its UUID."""
    try:
        key = UUID(event_id)
    except ValueError:
        raise InvalidRequest("event_id", "is not a UUID") from None
    ctx.reader.note_plate_data(0)
    row = await queries.fetch_event(ctx.state.read_pool, key)
    rows = [row] if row is not None else []
    public = await _audited(ctx, "GET /events/{event_id}", {"event_id": event_id}, rows)
    if not public:
        raise NotFound(f"no read with id {event_id}")
    return public[0]


service = APIRouter(tags=["service"])


@service.get("/stats", response_model=StatsPublic)
async def read_stats(ctx: Ctx) -> StatsPublic:
    """Totals over all reads, from the rollups."""
    row = await queries.fetch_storage_stats(ctx.state.read_pool)
    return StatsPublic(is_connected=True, **dict(row))


@service.get("/audit", response_model=list[AuditPublic])
async def read_audit(
    ctx: Ctx,
    limit: Limit = 100,
    before_id: int | None = None,
    key_id: str | None = None,
) -> list[AuditPublic]:
    """Audit records, newest first (admin scope)."""
    ctx.require_admin()
    rows = await queries.fetch_audit(ctx.state.pool, before_id, key_id, limit)
    return [AuditPublic.model_validate(dict(row)) for row in rows]
