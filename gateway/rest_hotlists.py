"""Hotlists over REST, the twins of the GraphQL hotlist fields and mutations.

Reading lists needs a key with `read` (every request has one); a list's
entries are plate data, audited like every read. Changes need the `hotlist`
scope and take their purpose from `?purpose=` or X-Purpose (required where
the deployment requires purposes). The work and its audit record are
`core.hotlists`'. A webhook's secret is accepted, never returned.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from core import hotlists
from core.hotlists import (
    Entry,
    EntryChanges,
    EntrySpec,
    Hotlist,
    HotlistChanges,
    HotlistSpec,
    Webhook,
)
from gateway.audit import record
from gateway.rest import Ctx, Cursor, Purpose
from schema.paging import MAX_PAGE, decode_row_id, encode_row_id

router = APIRouter(prefix="/hotlists", tags=["hotlists"])


class WebhookSet(BaseModel):
    """A list's webhook: where to deliver, and the secret (16+ characters) that signs."""

    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str = Field(min_length=1, repr=False)


@router.get("")
async def list_hotlists(ctx: Ctx, include_deleted: bool = False) -> list[Hotlist]:
    """Every list, by priority then name, with its entry count and staleness."""
    return await hotlists.list_hotlists(ctx.state.pool, include_deleted=include_deleted)


@router.post("", status_code=201)
async def create_hotlist(ctx: Ctx, body: HotlistSpec, purpose: Purpose = None) -> Hotlist:
    """Create a list (scope `hotlist`); `max_age` in seconds or ISO 8601 (P1D)."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.create_hotlist(pool, body, actor)


@router.get("/{name}")
async def read_hotlist(ctx: Ctx, name: str) -> Hotlist:
    """One live list."""
    return await hotlists.get_hotlist(ctx.state.pool, name)


@router.patch("/{name}")
async def update_hotlist(
    ctx: Ctx, name: str, body: HotlistChanges, purpose: Purpose = None
) -> Hotlist:
    """Change a list's settings (scope `hotlist`); absent fields are kept."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.update_hotlist(pool, name, body, actor)


@router.delete("/{name}")
async def delete_hotlist(ctx: Ctx, name: str, purpose: Purpose = None) -> Hotlist:
    """Delete a list: it stops matching; its entries and alerts stay (scope `hotlist`)."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.delete_hotlist(pool, name, actor)


@router.get("/{name}/entries")
async def list_entries(
    ctx: Ctx,
    response: Response,
    name: str,
    plate: str | None = None,
    reason: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Cursor = None,
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
    pool, actor = ctx.change("hotlist", purpose)
    days = ctx.state.settings.backfill_days()
    return await hotlists.add_entry(pool, name, body, actor, backfill_days=days)


@router.patch("/entries/{entry_id}")
async def update_entry(
    ctx: Ctx, entry_id: int, body: EntryChanges, purpose: Purpose = None
) -> Entry:
    """Change a current entry (scope `hotlist`); absent fields are kept."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.update_entry(pool, entry_id, body, actor)


@router.delete("/entries/{entry_id}")
async def remove_entry(ctx: Ctx, entry_id: int, purpose: Purpose = None) -> Entry:
    """Remove an entry: it stops matching, its row stays (scope `hotlist`)."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.remove_entry(pool, entry_id, actor)


@router.get("/{name}/webhook")
async def read_webhook(ctx: Ctx, name: str) -> Webhook | None:
    """The list's webhook, without its secret; null when it never had one."""
    return await hotlists.get_webhook(ctx.state.pool, name)


@router.put("/{name}/webhook")
async def set_webhook(ctx: Ctx, name: str, body: WebhookSet, purpose: Purpose = None) -> Webhook:
    """Set the list's webhook (scope `hotlist`); the secret is never shown again."""
    pool, actor = ctx.change("hotlist", purpose)
    return await hotlists.set_webhook(pool, name, body.url, body.secret, actor)


@router.delete("/{name}/webhook")
async def remove_webhook(ctx: Ctx, name: str, purpose: Purpose = None) -> dict[str, bool]:
    """Stop the list's webhook (scope `hotlist`); `removed` is false when it had none."""
    pool, actor = ctx.change("hotlist", purpose)
    return {"removed": await hotlists.remove_webhook(pool, name, actor)}
