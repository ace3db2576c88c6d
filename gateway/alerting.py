"""Hotlists and alerts for GraphQL: `AlertingReader` (the `Alerting` protocol of
schema.graphql.alerting) over core.hotlists and core.alerts, and the
conversions from core's models to the GraphQL types.

Entries and alerts are plate data: every read of them goes through
`note_plate_data` (the purpose rule, and the operation's audit record).
"""

from __future__ import annotations

from typing import Any

import strawberry

from core import alerts, hotlists
from gateway import queries
from gateway.metrics import HOTLIST_AGE_SECONDS, HOTLIST_STALE
from gateway.reader import DbReader
from schema.graphql.alerting import (
    Alert,
    AlertRead,
    AlertReportRow,
    AlertStatus,
    Disposition,
    Hotlist,
    HotlistEntry,
    HotlistEntryConnection,
    HotlistEntryFilter,
    HotlistWebhook,
    MatchMode,
    VerificationChecklist,
)
from schema.graphql.types import Event
from schema.paging import decode_row_id


def hotlist_type(found: hotlists.Hotlist) -> Hotlist:
    data = found.model_dump(exclude={"hotlist_id", "max_age", "match_mode"})
    age = found.max_age
    return Hotlist(
        id=strawberry.ID(str(found.hotlist_id)),
        match_mode=MatchMode(found.match_mode),
        max_age_seconds=None if age is None else int(age.total_seconds()),
        **data,
    )


def entry_type(found: hotlists.Entry) -> HotlistEntry:
    data = found.model_dump(exclude={"entry_id", "hotlist_id", "match_mode", "effective_mode"})
    return HotlistEntry(
        id=strawberry.ID(str(found.entry_id)),
        match_mode=MatchMode(found.match_mode) if found.match_mode else None,
        effective_mode=MatchMode(found.effective_mode),
        **data,
    )


def webhook_type(found: hotlists.Webhook) -> HotlistWebhook:
    shown = {k: v for k, v in vars(found).items() if k != "webhook_id"}
    return HotlistWebhook(**shown)


def alert_type(found: alerts.Alert) -> Alert:
    data = found.model_dump(
        exclude={
            "alert_id",
            "hotlist_id",
            "hotlist",
            "entry_id",
            "best_event_id",
            "status",
            "disposition",
            "checklist",
        }
    )
    checklist = found.checklist
    return Alert(
        id=strawberry.ID(str(found.alert_id)),
        hotlist_id=strawberry.ID(str(found.hotlist_id)),
        hotlist_name=found.hotlist,
        entry_id=strawberry.ID(str(found.entry_id)),
        best_event_id=strawberry.ID(str(found.best_event_id)),
        status=AlertStatus(found.status),
        disposition=Disposition(found.disposition) if found.disposition else None,
        checklist=VerificationChecklist(**checklist) if checklist else None,
        **data,
    )


def report_type(row: alerts.ReportRow) -> AlertReportRow:
    return AlertReportRow(
        hotlist=row.hotlist,
        reason=row.reason,
        status=AlertStatus(row.status),
        disposition=Disposition(row.disposition) if row.disposition else None,
        historical=row.historical,
        alerts=row.alerts,
        reads=row.reads,
    )


class AlertingReader:
    """Implements `schema.graphql.alerting.Alerting` for one request."""

    def __init__(self, db: queries.Db, reader: DbReader) -> None:
        self.db = db
        self.reader = reader

    async def entries(
        self,
        hotlist_id: int,
        entry_filter: HotlistEntryFilter | None,
        first: int,
        after: str | None,
    ) -> HotlistEntryConnection:
        self.reader.note_plate_data(0)
        after_id = decode_row_id(after, "entry", "after") if after else None
        given = entry_filter or HotlistEntryFilter()
        found, more = await hotlists.list_entries(
            self.db,
            hotlist_id,
            hotlists.EntryFilter(given.plate, given.reason, given.active),
            first,
            after_id,
        )
        self.reader.note_plate_data(len(found))
        return HotlistEntryConnection.of([entry_type(e) for e in found], more, after)

    async def webhook(self, hotlist_id: int) -> HotlistWebhook | None:
        found = await hotlists.webhook_by_id(self.db, hotlist_id)
        return None if found is None else webhook_type(found)

    async def hotlist_by_id(self, hotlist_id: int) -> Hotlist:
        return hotlist_type(await hotlists.hotlist_by_id(self.db, hotlist_id))

    async def entry(self, entry_id: int) -> HotlistEntry:
        self.reader.note_plate_data(0)
        found = await hotlists.get_entry(self.db, entry_id)
        self.reader.note_plate_data(1)
        return entry_type(found)

    async def alert_reads(self, alert_id: int) -> list[AlertRead]:
        self.reader.note_plate_data(0)
        found = await alerts.alert_reads(self.db, alert_id)
        self.reader.note_plate_data(len(found))
        return [read_type(r) for r in found]


def read_type(found: alerts.AlertRead) -> AlertRead:
    event: Any = found.event
    return AlertRead(
        event_id=strawberry.ID(str(found.event_id)),
        captured_at=found.captured_at,
        confidence=found.confidence,
        event=Event.from_row(event) if event is not None else None,
    )


async def refresh_hotlist_gauges(db: queries.Db) -> None:
    """Set the staleness gauges from the lists now live (deleted ones drop out)."""
    found = await hotlists.staleness(db)
    HOTLIST_STALE.clear()
    HOTLIST_AGE_SECONDS.clear()
    for item in found:
        HOTLIST_STALE.labels(item.name).set(1 if item.stale else 0)
        HOTLIST_AGE_SECONDS.labels(item.name).set(item.age_s)
