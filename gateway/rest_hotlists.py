"""Hotlists over REST, the twins of the GraphQL hotlist fields and mutations.

Reading lists needs a key with `read` (every request has one); a list's
entries are plate data, audited like every read. Changes need the `hotlist`
scope and take their purpose from `?purpose=` or X-Purpose (required where
the deployment requires purposes). The work and its audit record are
`core.hotlists`'. A webhook's secret is accepted, never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core import hotlists
from core.hotlists import Entry, EntryChanges, EntrySpec, Hotlist, HotlistChanges, HotlistSpec
from gateway.audit import record
from gateway.rest import Ctx
from schema.paging import MAX_PAGE, decode_row_id, encode_row_id

router = APIRouter(prefix="/hotlists", tags=["hotlists"])

Purpose = Annotated[str | None, Query(description="why (audited); else X-Purpose")]


class WebhookSet(BaseModel):
    """A list's webhook: where to deliver, and the secret (16+ characters) that signs."""

    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str = Field(min_length=1, repr=False)


class WebhookPublic(BaseModel):
    """A list's webhook as shown: never its secret."""

    url: str
    enabled: bool
    failing_since: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime


@router.get("")
async def list_hotlists(ctx: Ctx, include_deleted: bool = False) -> list[Hotlist]:
    """Every list, by priority then name, with its entry count and staleness."""
    return await hotlists.list_hotlists(ctx.state.pool, include_deleted=include_deleted)


@router.post("", status_code=201)
async def create_hotlist(ctx: Ctx, body: HotlistSpec, purpose: Purpose = None) -> Hotlist:
    """Create a list (scope `hotlist`); `max_age` in seconds or ISO 8601 (P1D)."""
    ctx.require_scope("hotlist")
    return await hotlists.create_hotlist(ctx.state.pool, body, ctx.actor(purpose))


@router.get("/{name}")
async def read_hotlist(ctx: Ctx, name: str) -> Hotlist:
    """One live list."""
    return await hotlists.get_hotlist(ctx.state.pool, name)


@router.patch("/{name}")
async def update_hotlist(
    ctx: Ctx, name: str, body: HotlistChanges, purpose: Purpose = None
) -> Hotlist:
    """Change a list's settings (scope `hotlist`); absent fields are kept."""
    ctx.require_scope("hotlist")
    return await hotlists.update_hotlist(ctx.state.pool, name, body, ctx.actor(purpose))


@router.delete("/{name}")
async def delete_hotlist(ctx: Ctx, name: str, purpose: Purpose = None) -> Hotlist:
    """Delete a list: it stops matching; its entries and alerts stay (scope `hotlist`)."""
    ctx.require_scope("hotlist")
    return await hotlists.delete_hotlist(ctx.state.pool, name, ctx.actor(purpose))


@router.get("/{name}/entries")
async def list_entries(
    ctx: Ctx,
    response: Response,
    name: str,
    plate: str | None = None,
    reason: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="X-Next-Cursor of the previous page")] = None,
) -> list[Entry]:
    """A list's entries, newest first (plate data: audited); the next page's
    cursor comes in X-Next-Cursor."""
    ctx.reader.note_plate_data(0)
    after_id = decode_row_id(cursor, "entry", "cursor") if cursor else None
    found = await hotlists.get_hotlist(ctx.state.pool, name)
    entries, more = await hotlists.list_entries(
        ctx.state.pool,
        found.hotlist_id,
        hotlists.EntryFilter(plate, reason, active),
        limit,
        after_id,
    )
    variables = {"name": name, "plate": plate, "reason": reason, "active": active, "limit": limit}
    await record(ctx, "GET /hotlists/{name}/entries", variables, len(entries))
    if more:
        response.headers["X-Next-Cursor"] = encode_row_id("entry", entries[-1].entry_id)
    return entries


@router.post("/{name}/entries", status_code=201)
async def add_entry(ctx: Ctx, name: str, body: EntrySpec, purpose: Purpose = None) -> Entry:
    """Add an entry (scope `hotlist`); its past hits are searched for."""
    ctx.require_scope("hotlist")
    days = ctx.state.settings.backfill_days()
    return await hotlists.add_entry(
        ctx.state.pool, name, body, ctx.actor(purpose), backfill_days=days
    )


@router.patch("/entries/{entry_id}")
async def update_entry(
    ctx: Ctx, entry_id: int, body: EntryChanges, purpose: Purpose = None
) -> Entry:
    """Change a current entry (scope `hotlist`); absent fields are kept."""
    ctx.require_scope("hotlist")
    return await hotlists.update_entry(ctx.state.pool, entry_id, body, ctx.actor(purpose))


@router.delete("/entries/{entry_id}")
async def remove_entry(ctx: Ctx, entry_id: int, purpose: Purpose = None) -> Entry:
    """Remove an entry: it stops matching, its row stays (scope `hotlist`)."""
    ctx.require_scope("hotlist")
    return await hotlists.remove_entry(ctx.state.pool, entry_id, ctx.actor(purpose))


@router.get("/{name}/webhook")
async def read_webhook(ctx: Ctx, name: str) -> WebhookPublic | None:
    """The list's webhook, without its secret; null when it never had one."""
    hook = await hotlists.get_webhook(ctx.state.pool, name)
    return None if hook is None else WebhookPublic(**vars(hook))


@router.put("/{name}/webhook")
async def set_webhook(
    ctx: Ctx, name: str, body: WebhookSet, purpose: Purpose = None
) -> WebhookPublic:
    """Set the list's webhook (scope `hotlist`); the secret is never shown again."""
    ctx.require_scope("hotlist")
    hook = await hotlists.set_webhook(
        ctx.state.pool, name, body.url, body.secret, ctx.actor(purpose)
    )
    return WebhookPublic(**vars(hook))


@router.delete("/{name}/webhook")
async def remove_webhook(ctx: Ctx, name: str, purpose: Purpose = None) -> dict[str, bool]:
    """Stop the list's webhook (scope `hotlist`); `removed` is false when it had none."""
    ctx.require_scope("hotlist")
    return {"removed": await hotlists.remove_webhook(ctx.state.pool, name, ctx.actor(purpose))}
