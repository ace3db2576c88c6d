"""The root Query, in parts merged by `gateway.graphql_schema`.

Each part is a small class of root fields; to add a field, write a part (or
a method on one) and list it in `QUERY_PARTS` in gateway/graphql_schema.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

import strawberry

from core import holds
from gateway import queries
from gateway.context import Context
from gateway.holds_graphql import hold_type
from gateway.ingest_health import fetch_ingest_health
from gateway.plate_search import SearchLimits, search_plates
from schema.errors import InvalidRequest, NotFound
from schema.filters import check_id, check_plate, check_record_id, check_text, check_window
from schema.graphql.inputs import EventFilter
from schema.graphql.matches import PlateMatchConnection, PlateSearchFilter
from schema.graphql.selection import connection_nested, nested_fields, selected_names
from schema.graphql.types import (
    AuditRecord,
    Camera,
    Event,
    EventConnection,
    HourlyCount,
    IngestHealth,
    LegalHold,
    Plate,
    Site,
    Stats,
)
from schema.paging import MAX_PAGE, PageRequest, decode_rank
from schema.plate_match import DEFAULT_MAX_DISTANCE, SearchMode

Info = strawberry.Info[Context, None]


def parse_event_id(value: str, argument: str = "id") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidRequest(argument, "is not a UUID") from None


@strawberry.type
class EventQueries:
    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        """One read by its event id."""
        event = await info.context.reader.event(parse_event_id(str(id)), nested_fields(info))
        if event is None:
            raise NotFound(f"no read with id {id}")
        return event

    @strawberry.field
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EventConnection:
        """Reads, newest first, in keyset pages of up to 500."""
        query = (filter or EventFilter()).to_query()
        page = PageRequest.from_args(first, after, last, before)
        return await info.context.reader.events(query, page, connection_nested(info))


@strawberry.type
class PlaceQueries:
    @strawberry.field
    async def plate(self, info: Info, text: str) -> Plate | None:
        """A plate's summary; `text` as read or normalized."""
        plate = await info.context.reader.plate(check_plate(text, "text"))
        if plate is None:
            raise NotFound(f"no reads of plate {text}")
        return plate

    @strawberry.field
    async def camera(self, info: Info, id: strawberry.ID) -> Camera | None:
        """One camera by id."""
        camera = await info.context.reader.camera(check_id(str(id), "id") or "")
        if camera is None:
            raise NotFound(f"no camera {id}")
        return camera

    @strawberry.field
    async def cameras(self, info: Info, site_id: str | None = None) -> list[Camera]:
        """Every camera (or a site's), by id."""
        return await info.context.reader.cameras(check_id(site_id, "siteId"))

    @strawberry.field
    async def sites(self, info: Info) -> list[Site]:
        """Every site, with its camera and read counts."""
        rows = await queries.list_sites(info.context.state.read_pool)
        return [
            Site(
                id=strawberry.ID(row["site_id"]),
                camera_count=row["camera_count"],
                read_count=row["read_count"],
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
            )
            for row in rows
        ]


@strawberry.type
class StatsQueries:
    @strawberry.field
    async def stats(
        self,
        info: Info,
        since: datetime | None = None,
        until: datetime | None = None,
        camera_id: str | None = None,
        site_id: str | None = None,
        hours: int = 24,
    ) -> Stats:
        """Totals over the window, and reads per hour over its newest `hours` (1-744);
        from the rollups, never a scan of reads."""
        since, until = check_window(since, until)
        if not 1 <= hours <= queries.MAX_SERIES_HOURS:
            raise InvalidRequest("hours", f"must be between 1 and {queries.MAX_SERIES_HOURS}")
        # Unique plates over a window are the dearest part (an OR of day
        # bitmaps, growing with days x plates), the series the next: each
        # only when asked for.
        wanted = selected_names(info)
        figures = await queries.fetch_stats(
            info.context.state.read_pool,
            since,
            until,
            check_id(camera_id, "cameraId"),
            check_id(site_id, "siteId"),
            hours if "readsPerHour" in wanted else 0,
            count_unique="uniquePlates" in wanted,
        )
        series = [
            HourlyCount(hour=hour, reads=reads, avg_confidence=confidence)
            for hour, reads, confidence in figures.pop("series")
        ]
        return Stats(**figures, reads_per_hour=series)


@strawberry.type
class AuditQueries:
    @strawberry.field
    async def audit_log(
        self,
        info: Info,
        first: int = 100,
        before_id: strawberry.ID | None = None,
        key_id: str | None = None,
    ) -> list[AuditRecord]:
        """Audit records, newest first (admin scope); the read is audited in turn."""
        info.context.require_admin()
        if not 1 <= first <= MAX_PAGE:
            raise InvalidRequest("first", f"must be between 1 and {MAX_PAGE}")
        before = check_record_id(str(before_id), "beforeId") if before_id is not None else None
        key = check_id(key_id, "keyId")
        # Records name the plates that were asked for: plate data.
        info.context.reader.note_plate_data(0)
        rows = await queries.fetch_audit(info.context.state.pool, before, key, first)
        info.context.reader.note_plate_data(len(rows))
        return [
            AuditRecord(
                id=strawberry.ID(str(row["audit_id"])),
                at=row["at"],
                key_id=row["key_id"],
                client=row["client"],
                operation=row["operation"],
                variables=json.loads(row["variables"]),
                result_count=row["result_count"],
                purpose=row["purpose"],
            )
            for row in rows
        ]


@strawberry.type
class SearchQueries:
    @strawberry.field
    async def plate_search(
        self,
        info: Info,
        query: str,
        mode: SearchMode = SearchMode.FUZZY,
        filter: PlateSearchFilter | None = None,
        first: int = 20,
        after: str | None = None,
        max_distance: float = DEFAULT_MAX_DISTANCE,
    ) -> PlateMatchConnection:
        """Plates matching `query`, best first: exact, wildcard, or fuzzy the way OCR
        fails (ranked by cost, then most recently seen, then most read)."""
        check_text(query, "query")
        offset = decode_rank(after, "after") if after else 0
        search_filter = (filter or PlateSearchFilter()).to_filter()
        info.context.reader.note_plate_data(0)  # the purpose rule, before any read
        page = await search_plates(
            info.context.state.read_pool,
            query,
            mode,
            search_filter,
            first=first,
            offset=offset,
            limits=SearchLimits(max_distance=max_distance),
        )
        info.context.reader.note_plate_data(len(page.matches))
        return PlateMatchConnection.from_matches(page.matches, offset, page.has_more, page.complete)


@strawberry.type
class OperationsQueries:
    @strawberry.field
    async def ingest_health(self, info: Info) -> IngestHealth:
        """What the writer stored lately, and what the ingestors report: dead
        letters, Kafka lag per partition (no plate data)."""
        return await fetch_ingest_health(info.context.state.pool)

    @strawberry.field
    async def legal_holds(
        self,
        info: Info,
        plate: str | None = None,
        case_number: str | None = None,
        include_released: bool = False,
    ) -> list[LegalHold]:
        """Legal holds in the order placed, those on `plate` or of a case (admin scope)."""
        info.context.require_admin("reading legal holds")
        wanted = check_plate(plate, "plate") if plate is not None else None
        found = await holds.list_holds(
            info.context.state.pool, active_only=not include_released, case_number=case_number
        )
        return [
            hold_type(hold)
            for hold in found
            if wanted is None or hold.plate_normalized_text == wanted
        ]
