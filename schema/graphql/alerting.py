"""GraphQL shapes of hotlists and alerts: types, inputs, enums. No I/O.

Fields that need data (a list's entries and webhook, an alert's reads,
entry and list) call the `Alerting` protocol on the request context; the
gateway implements it (gateway/alerting.py) over core.hotlists and
core.alerts. Pages are keyset connections over row ids, newest first
(`schema.paging.encode_row_id`). A webhook's secret has no field anywhere.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import strawberry
from strawberry.scalars import JSON

from schema.graphql.types import Connection, Edge, Event, PageInfo
from schema.paging import encode_row_id


@strawberry.enum(description="How an entry's plate is compared with reads.")
class MatchMode(Enum):
    EXACT = "exact"
    WILDCARD = "wildcard"
    FUZZY = "fuzzy"


@strawberry.enum(description="Where an alert is in triage: new -> acknowledged -> closed.")
class AlertStatus(Enum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


@strawberry.enum(description="What a closed alert turned out to be.")
class Disposition(Enum):
    CONFIRMED = "confirmed"
    MISREAD = "misread"
    ENTRY_OUTDATED = "entry_outdated"
    NO_ACTION = "no_action"


class Alerting(Protocol):
    """What the types need from the server for hotlists and alerts."""

    async def entries(
        self,
        hotlist_id: int,
        entry_filter: HotlistEntryFilter | None,
        first: int,
        after: str | None,
    ) -> HotlistEntryConnection: ...

    async def webhook(self, hotlist_id: int) -> HotlistWebhook | None: ...

    async def hotlist_by_id(self, hotlist_id: int) -> Hotlist: ...

    async def entry(self, entry_id: int) -> HotlistEntry: ...

    async def alert_reads(self, alert_id: int) -> list[AlertRead]: ...


class HasAlerting(Protocol):
    @property
    def alerting(self) -> Alerting: ...


Info = strawberry.Info[HasAlerting, None]


@strawberry.type(description="A list's webhook; its secret is never shown.")
class HotlistWebhook:
    url: str
    enabled: bool
    failing_since: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime


@strawberry.type(description="A watch list every stored read is checked against.")
class Hotlist:
    id: strawberry.ID
    name: str
    description: str | None
    priority: int = strawberry.field(description="0-100, higher is more urgent.")
    match_mode: MatchMode
    max_cost: float = strawberry.field(description="Fuzzy: the largest OCR cost that matches.")
    site_ids: list[str] = strawberry.field(description="Scope; both lists empty: every camera.")
    camera_ids: list[str]
    max_age_seconds: int | None = strawberry.field(
        description="Stale when not refreshed for this long; null: never stale."
    )
    source: str
    revision: int
    refreshed_at: datetime
    created_by: str
    created_at: datetime
    deleted_at: datetime | None
    stale: bool
    entry_count: int = strawberry.field(description="Entries not removed (expired ones too).")
    has_webhook: bool

    @strawberry.field
    async def entries(
        self,
        info: Info,
        filter: HotlistEntryFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> HotlistEntryConnection:
        """Its entries, newest first (plate data: audited)."""
        return await info.context.alerting.entries(int(self.id), filter, first, after)

    @strawberry.field
    async def webhook(self, info: Info) -> HotlistWebhook | None:
        return await info.context.alerting.webhook(int(self.id))


@strawberry.type(description="One vehicle wanted on a list, for a reason.")
class HotlistEntry:
    id: strawberry.ID
    hotlist: str
    plate: str = strawberry.field(description="Normalized, or a wildcard pattern.")
    region: str | None
    reason: str
    case_number: str | None
    agency: str | None
    record_number: str | None
    notes: str | None
    details: JSON
    match_mode: MatchMode | None = strawberry.field(description="Its own mode; null: the list's.")
    max_cost: float | None
    effective_mode: MatchMode
    effective_max_cost: float
    valid_from: datetime
    valid_until: datetime | None
    added_by: str
    added_at: datetime
    removed_by: str | None
    removed_at: datetime | None
    active: bool = strawberry.field(description="Not removed and within its validity now.")


@strawberry.type(description="A page of a list's entries, newest first.")
class HotlistEntryConnection(Connection[HotlistEntry]):
    @classmethod
    def of(cls, nodes: list[HotlistEntry], more: bool, after: str | None) -> HotlistEntryConnection:
        edges = [Edge(cursor=encode_row_id("entry", int(n.id)), node=n) for n in nodes]
        info = PageInfo.of(edges, has_next_page=more, has_previous_page=after is not None)
        return cls(edges=edges, page_info=info)


@strawberry.type(description="The verification answers recorded when an alert was closed.")
class VerificationChecklist:
    image_matches_entry: bool | None
    region_matches: bool | None
    entry_still_active: bool | None


@strawberry.type(description="One read of an alert.")
class AlertRead:
    event_id: strawberry.ID
    captured_at: datetime
    confidence: float
    event: Event | None = strawberry.field(
        description="The stored read; null once retention took it."
    )


@strawberry.type(description="A hotlist hit: one vehicle pass matching one entry at one camera.")
class Alert:
    id: strawberry.ID
    hotlist_id: strawberry.ID
    hotlist_name: str
    entry_id: strawberry.ID
    reason: str
    priority: int
    camera_id: str
    site_id: str | None
    plate_read: str = strawberry.field(description="The plate as the best read has it.")
    entry_plate: str
    entry_region: str | None
    cost: float = strawberry.field(description="OCR cost between read and entry; 0: exact.")
    edits: JSON = strawberry.field(description="The characters that differ, and how.")
    region_mismatch: bool
    historical: bool = strawberry.field(description="Found in past reads when the entry came.")
    first_seen: datetime
    last_seen: datetime
    read_count: int
    best_event_id: strawberry.ID
    best_captured_at: datetime
    best_confidence: float
    raised_at: datetime
    status: AlertStatus
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    disposition: Disposition | None
    disposition_note: str | None
    checklist: VerificationChecklist | None

    @strawberry.field
    async def reads(self, info: Info) -> list[AlertRead]:
        """Its reads, in the order seen."""
        return await info.context.alerting.alert_reads(int(self.id))

    @strawberry.field
    async def entry(self, info: Info) -> HotlistEntry:
        """The entry it matched."""
        return await info.context.alerting.entry(int(self.entry_id))

    @strawberry.field
    async def hotlist(self, info: Info) -> Hotlist:
        """The list of the entry."""
        return await info.context.alerting.hotlist_by_id(int(self.hotlist_id))


@strawberry.type(description="A page of alerts, newest first.")
class AlertConnection(Connection[Alert]):
    @classmethod
    def of(cls, nodes: list[Alert], more: bool, after: str | None) -> AlertConnection:
        edges = [Edge(cursor=encode_row_id("alert", int(n.id)), node=n) for n in nodes]
        info = PageInfo.of(edges, has_next_page=more, has_previous_page=after is not None)
        return cls(edges=edges, page_info=info)


@strawberry.type(description="Hits of one list, reason, state and disposition: no plate.")
class AlertReportRow:
    hotlist: str
    reason: str
    status: AlertStatus
    disposition: Disposition | None
    historical: bool
    alerts: int
    reads: int


@strawberry.input(description="Which entries of a list; every field narrows the set.")
class HotlistEntryFilter:
    plate: str | None = strawberry.field(default=None, description="Normalized plate or pattern.")
    reason: str | None = None
    active: bool | None = None


@strawberry.input(description="Which live alerts; every field narrows the set.")
class LiveAlertFilter:
    hotlist: str | None = strawberry.field(default=None, description="The list's name.")
    priority_at_least: int | None = None
    site: str | None = None
    camera: str | None = None


@strawberry.input(description="Which alerts; every field narrows the set.")
class AlertFilter(LiveAlertFilter):
    status: AlertStatus | None = None
    since: datetime | None = strawberry.field(
        default=None, description="Passes seen at or after this time."
    )
    until: datetime | None = strawberry.field(default=None, description="Passes begun before.")
    historical: bool | None = None


@strawberry.input(description="A new list.")
class HotlistInput:
    name: str
    description: str | None = None
    priority: int = 50
    match_mode: MatchMode = MatchMode.EXACT
    max_cost: float = 1.0
    site_ids: list[str] = strawberry.field(default_factory=list)
    camera_ids: list[str] = strawberry.field(default_factory=list)
    max_age_seconds: int | None = None
    source: str = "manual"


@strawberry.input(description="A list's fields to change; null keeps a field.")
class HotlistChangesInput:
    description: str | None = None
    priority: int | None = None
    match_mode: MatchMode | None = None
    max_cost: float | None = None
    site_ids: list[str] | None = None
    camera_ids: list[str] | None = None
    max_age_seconds: int | None = None
    clear_max_age: bool = False
    source: str | None = None


@strawberry.input(description="An entry to add.")
class HotlistEntryInput:
    plate: str
    reason: str
    region: str | None = None
    case_number: str | None = None
    agency: str | None = None
    record_number: str | None = None
    notes: str | None = None
    details: JSON | None = None
    match_mode: MatchMode | None = None
    max_cost: float | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


@strawberry.input(description="An entry's fields to change; null keeps a field.")
class HotlistEntryChangesInput:
    reason: str | None = None
    case_number: str | None = None
    agency: str | None = None
    record_number: str | None = None
    notes: str | None = None
    details: JSON | None = None
    match_mode: MatchMode | None = None
    max_cost: float | None = None
    clear_mode: bool = False
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    clear_valid_until: bool = False


@strawberry.input(description="The verification before acting on a hit; all needed to confirm.")
class ChecklistInput:
    image_matches_entry: bool | None = None
    region_matches: bool | None = None
    entry_still_active: bool | None = None


def plain(value: Any) -> dict[str, Any]:
    """The fields of an input object, enums as their values (for core's models)."""
    return {
        name: item.value if isinstance(item, Enum) else item for name, item in vars(value).items()
    }
