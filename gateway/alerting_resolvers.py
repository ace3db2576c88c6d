"""Root fields for hotlists and alerts: query parts and mutation parts, merged
by gateway.graphql_schema.

Reading lists needs the `read` scope (every request has it); entries and
alerts are plate data, audited like every read. Mutations need `hotlist`
(lists, entries, webhooks) or `triage` (acknowledge, close); each takes an
optional `purpose` (else the request's X-Purpose), required where the
deployment requires purposes. The work and its audit record are core's
(core.hotlists, core.alerts), in the change's transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError

from core import alerts, hotlists
from gateway.alerting import alert_type, entry_type, hotlist_type, report_type, webhook_type
from gateway.context import Context
from schema.errors import InvalidRequest
from schema.filters import check_id, check_text, check_window
from schema.graphql.alerting import (
    Alert,
    AlertConnection,
    AlertFilter,
    AlertReportRow,
    ChecklistInput,
    Disposition,
    Hotlist,
    HotlistChangesInput,
    HotlistEntry,
    HotlistEntryChangesInput,
    HotlistEntryInput,
    HotlistInput,
    HotlistWebhook,
    LiveAlertFilter,
    plain,
)
from schema.paging import decode_row_id

Info = strawberry.Info[Context, None]
M = TypeVar("M", bound=BaseModel)


def model(cls: type[M], **data: Any) -> M:
    """`cls(**data)`, a validation failure as InvalidRequest naming the field."""
    try:
        return cls(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise InvalidRequest(where, first["msg"]) from None


def row_id(value: Any, argument: str = "id") -> int:
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise InvalidRequest(argument, "is not an id")
    return int(text)


def _seconds(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def hotlist_spec(given: HotlistInput) -> hotlists.HotlistSpec:
    data = plain(given)
    data["max_age"] = _seconds(data.pop("max_age_seconds"))
    return model(hotlists.HotlistSpec, **data)


def hotlist_changes(given: HotlistChangesInput) -> hotlists.HotlistChanges:
    data = plain(given)
    data["max_age"] = _seconds(data.pop("max_age_seconds"))
    return model(hotlists.HotlistChanges, **data)


def alert_filter(given: LiveAlertFilter) -> alerts.AlertFilter:
    """core's filter of `given` (a live filter, or the full `AlertFilter`),
    checked: InvalidRequest naming a value PostgreSQL could not compare."""
    shared = alerts.AlertFilter(
        hotlist=None if given.hotlist is None else check_text(given.hotlist, "hotlist"),
        priority_at_least=given.priority_at_least,
        site_id=check_id(given.site, "site"),
        camera_id=check_id(given.camera, "camera"),
    )
    if not isinstance(given, AlertFilter):
        return shared
    since, until = check_window(given.since, given.until)
    return replace(
        shared,
        status=given.status.value if given.status else None,
        since=since,
        until=until,
        historical=given.historical,
    )


def _no_null_details(data: dict[str, Any], default: Any) -> dict[str, Any]:
    if data.get("details") is None:
        data["details"] = default
    return data


@strawberry.type
class HotlistQueries:
    @strawberry.field
    async def hotlists(self, info: Info, include_deleted: bool = False) -> list[Hotlist]:
        """Every list, by priority then name."""
        found = await hotlists.list_hotlists(
            info.context.state.pool, include_deleted=include_deleted
        )
        return [hotlist_type(h) for h in found]

    @strawberry.field
    async def hotlist(self, info: Info, name: str) -> Hotlist:
        """One live list by name."""
        return hotlist_type(await hotlists.get_hotlist(info.context.state.pool, name))


@strawberry.type
class AlertQueries:
    @strawberry.field
    async def alerts(
        self,
        info: Info,
        filter: AlertFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> AlertConnection:
        """Alerts, newest first, in keyset pages of up to 500 (plate data: audited)."""
        query = alert_filter(filter or AlertFilter())
        after_id = decode_row_id(after, "alert", "after") if after else None
        reader = info.context.reader
        reader.note_plate_data(0)
        found, more = await alerts.list_alerts(info.context.state.pool, query, first, after_id)
        reader.note_plate_data(len(found))
        return AlertConnection.of([alert_type(a) for a in found], more, after)

    @strawberry.field
    async def alert(self, info: Info, id: strawberry.ID) -> Alert:
        """One alert, with its reads, entry and list (plate data: audited)."""
        info.context.reader.note_plate_data(0)
        found = await alerts.get_alert(info.context.state.pool, row_id(id))
        info.context.reader.note_plate_data(1)
        return alert_type(found)

    @strawberry.field
    async def alert_report(
        self, info: Info, since: datetime, until: datetime
    ) -> list[AlertReportRow]:
        """Hit counts per list, reason, state and disposition over [since, until),
        by the pass's first read: no plate text, for a public report."""
        start, end = check_window(since, until)
        rows = await alerts.report(info.context.state.pool, start or since, end or until)
        return [report_type(r) for r in rows]


@strawberry.type
class HotlistMutations:
    @strawberry.mutation
    async def create_hotlist(
        self, info: Info, input: HotlistInput, purpose: str | None = None
    ) -> Hotlist:
        """Create a list (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        made = await hotlists.create_hotlist(
            ctx.state.pool, hotlist_spec(input), ctx.actor(purpose)
        )
        return hotlist_type(made)

    @strawberry.mutation
    async def update_hotlist(
        self, info: Info, name: str, changes: HotlistChangesInput, purpose: str | None = None
    ) -> Hotlist:
        """Change a list's settings (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        done = await hotlists.update_hotlist(
            ctx.state.pool, name, hotlist_changes(changes), ctx.actor(purpose)
        )
        return hotlist_type(done)

    @strawberry.mutation
    async def delete_hotlist(self, info: Info, name: str, purpose: str | None = None) -> Hotlist:
        """Delete a list: it stops matching; its entries and alerts stay (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        return hotlist_type(await hotlists.delete_hotlist(ctx.state.pool, name, ctx.actor(purpose)))

    @strawberry.mutation
    async def add_hotlist_entry(
        self, info: Info, hotlist: str, entry: HotlistEntryInput, purpose: str | None = None
    ) -> HotlistEntry:
        """Add an entry; its past hits are searched for (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        spec = model(hotlists.EntrySpec, **_no_null_details(plain(entry), {}))
        return entry_type(
            await hotlists.add_entry(ctx.state.pool, hotlist, spec, ctx.actor(purpose))
        )

    @strawberry.mutation
    async def update_hotlist_entry(
        self,
        info: Info,
        id: strawberry.ID,
        changes: HotlistEntryChangesInput,
        purpose: str | None = None,
    ) -> HotlistEntry:
        """Change a current entry (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        given = model(hotlists.EntryChanges, **_no_null_details(plain(changes), None))
        done = await hotlists.update_entry(ctx.state.pool, row_id(id), given, ctx.actor(purpose))
        return entry_type(done)

    @strawberry.mutation
    async def remove_hotlist_entry(
        self, info: Info, id: strawberry.ID, purpose: str | None = None
    ) -> HotlistEntry:
        """Remove an entry: it stops matching, its row stays (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        return entry_type(
            await hotlists.remove_entry(ctx.state.pool, row_id(id), ctx.actor(purpose))
        )

    @strawberry.mutation
    async def set_hotlist_webhook(
        self, info: Info, hotlist: str, url: str, secret: str, purpose: str | None = None
    ) -> HotlistWebhook:
        """Set the list's webhook; the secret (16+ characters) signs deliveries and
        is never shown again (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        hook = await hotlists.set_webhook(ctx.state.pool, hotlist, url, secret, ctx.actor(purpose))
        return webhook_type(hook)

    @strawberry.mutation
    async def remove_hotlist_webhook(
        self, info: Info, hotlist: str, purpose: str | None = None
    ) -> bool:
        """Stop the list's webhook; false when it had none (scope `hotlist`)."""
        ctx = info.context
        ctx.require_scope("hotlist")
        return await hotlists.remove_webhook(ctx.state.pool, hotlist, ctx.actor(purpose))


@strawberry.type
class AlertMutations:
    @strawberry.mutation
    async def acknowledge_alert(
        self, info: Info, id: strawberry.ID, purpose: str | None = None
    ) -> Alert:
        """new -> acknowledged (scope `triage`)."""
        ctx = info.context
        ctx.require_scope("triage")
        return alert_type(await alerts.acknowledge(ctx.state.pool, row_id(id), ctx.actor(purpose)))

    @strawberry.mutation
    async def close_alert(
        self,
        info: Info,
        id: strawberry.ID,
        disposition: Disposition,
        note: str | None = None,
        checklist: ChecklistInput | None = None,
        purpose: str | None = None,
    ) -> Alert:
        """Close a new or acknowledged alert; CONFIRMED needs every checklist
        answer (scope `triage`)."""
        ctx = info.context
        ctx.require_scope("triage")
        answers = None if checklist is None else alerts.Checklist(**plain(checklist))
        done = await alerts.close(
            ctx.state.pool,
            row_id(id),
            disposition.value,
            ctx.actor(purpose),
            note=note,
            checklist=answers,
        )
        return alert_type(done)
