"""Output types. Built from rows in one step; nested data goes through `Reader`.

Node types are plain fields set at construction (no resolver per scalar
field): Strawberry's per-field cost is real, and a page of 500 reads must
stay cheap to serialize. A read's `camera` and `plate` are plain attributes
too, set for the whole page by the resolver that builds it when the query
selects them (see schema/graphql/selection.py).

Pages are Relay connections, one generic `Connection[T]` of `Edge[T]`:
Strawberry's `relay.ListConnection` encodes offsets in its cursors, and ours
are keyset (reads) or ranking (plate search) positions (schema/paging.py).
Strawberry names an edge after its node (`Edge[Event]` is `EventEdge`); a
connection is a subclass, for its description and fields of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, TypeVar

import strawberry
from strawberry.scalars import JSON

from schema.cameras import (
    HISTORY_HOURS,
    MIN_ACTIVE_HOURS,
    SILENT_FACTOR,
    SILENT_FLOOR_S,
    is_silent,
)
from schema.errors import InvalidRequest
from schema.filters import EventQuery, check_window
from schema.graphql.context import HasReader
from schema.graphql.enums import Direction, VehicleType
from schema.graphql.selection import connection_nested
from schema.paging import PageRequest, encode_cursor

if TYPE_CHECKING:
    from schema.graphql.matches import PlateMatchNode

Info = strawberry.Info[HasReader, None]
T = TypeVar("T")


class RowLike(Protocol):
    """A database row (asyncpg.Record) or a dict with the column names."""

    def __getitem__(self, key: str, /) -> Any: ...


def _reads_field(narrow: Callable[[Any], EventQuery]) -> Any:
    """The `reads` field of an object whose reads are `narrow(obj)`."""

    async def reads(
        self: Any,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EventConnection:
        since, until = check_window(since, until)
        page = PageRequest.from_args(first, after, last, before)
        query = replace(narrow(self), since=since, until=until)
        return await info.context.reader.events(query, page, connection_nested(info))

    return strawberry.field(reads)


@strawberry.type(description="One plate read, as stored.")
class Event:
    id: strawberry.ID
    captured_at: datetime
    camera_id: str
    site_id: str | None
    track_id: str
    plate_text: str = strawberry.field(description="The plate as the OCR read it.")
    plate_normalized: str = strawberry.field(description="Upper case, A-Z and 0-9 only.")
    plate_confidence: float
    plate_region: str
    vehicle_type: VehicleType | None
    vehicle_type_text: str | None = strawberry.field(description="The stored text of the type.")
    vehicle_make: str | None
    vehicle_model: str | None
    vehicle_color: str | None
    plate_image_url: str | None
    vehicle_image_url: str | None
    frame_image_url: str | None
    latency_ms: int | None
    quality_score: float | None
    frame_number: int | None
    host_id: str | None
    roi: str | None
    direction: Direction | None
    direction_text: str | None = strawberry.field(description="The stored text of direction.")
    stored_at: datetime | None
    # Set by the resolver that built this read, when the query asks for them.
    camera: Camera | None = None
    plate: Plate | None = None

    @classmethod
    def from_row(cls, row: RowLike) -> Event:
        return cls(
            id=strawberry.ID(str(row["event_id"])),
            captured_at=row["captured_at"],
            camera_id=row["camera_id"],
            site_id=row["site_id"],
            track_id=row["track_id"],
            plate_text=row["plate_text"],
            plate_normalized=row["plate_normalized_text"],
            plate_confidence=row["plate_confidence"],
            plate_region=row["plate_region"],
            vehicle_type=VehicleType.from_text(row["vehicle_type"]),
            vehicle_type_text=row["vehicle_type"],
            vehicle_make=row["vehicle_make"],
            vehicle_model=row["vehicle_model"],
            vehicle_color=row["vehicle_color"],
            plate_image_url=row["plate_image_url"],
            vehicle_image_url=row["vehicle_image_url"],
            frame_image_url=row["frame_image_url"],
            latency_ms=row["latency_ms"],
            quality_score=row["quality_score"],
            frame_number=row["frame_number"],
            host_id=row["host_id"],
            roi=row["roi"],
            direction=Direction.from_text(row["direction"]),
            direction_text=row["direction"],
            stored_at=row["created_at"],
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(
        cls, edges: Sequence[Edge[Any]], *, has_next_page: bool, has_previous_page: bool
    ) -> PageInfo:
        """The page info of `edges`, whose neighbours the caller knows of."""
        return cls(
            has_next_page=has_next_page,
            has_previous_page=has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


@strawberry.type(description="A page of reads, newest first, with opaque keyset cursors.")
class EventConnection(Connection[Event]):
    @classmethod
    def from_rows(cls, rows: Sequence[RowLike], page: PageRequest, more: bool) -> EventConnection:
        """The page of `rows`, already in newest-first order; `more`: a row
        past them was found in the direction `page` walks."""
        edges = [
            Edge(
                cursor=encode_cursor(row["captured_at"], row["event_id"]), node=Event.from_row(row)
            )
            for row in rows
        ]
        # Relay: the side we paged towards knows for sure (one extra row was
        # fetched); the side we came from has at least the cursor's own read.
        came_from_cursor = page.cursor is not None
        info = PageInfo.of(
            edges,
            has_next_page=came_from_cursor if page.backward else more,
            has_previous_page=more if page.backward else came_from_cursor,
        )
        return cls(edges=edges, page_info=info)


async def _camera_silent(root: Camera, info: Info) -> bool | None:
    gap = await info.context.reader.camera_gap(str(root.id))
    return is_silent(gap, (datetime.now(UTC) - root.last_seen).total_seconds())


async def _camera_usual_gap(root: Camera, info: Info) -> float | None:
    gap = await info.context.reader.camera_gap(str(root.id))
    return gap.usual_gap_s if gap is not None and gap.known else None


async def _camera_hours(root: Camera, info: Info, hours: int = 24) -> list[HourlyCount]:
    if not 1 <= hours <= HISTORY_HOURS:
        raise InvalidRequest("hours", f"must be between 1 and {HISTORY_HOURS}")
    return await info.context.reader.camera_hours(str(root.id), hours)


@strawberry.type(description="A camera, from the writer-kept cameras table.")
class Camera:
    id: strawberry.ID
    site_id: str | None
    first_seen: datetime
    last_seen: datetime
    read_count: int

    @classmethod
    def from_row(cls, row: RowLike) -> Camera:
        return cls(
            id=strawberry.ID(row["camera_id"]),
            site_id=row["site_id"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            read_count=row["read_count"],
        )

    reads = _reads_field(lambda camera: EventQuery(camera_id=str(camera.id)))

    silent: bool | None = strawberry.field(
        resolver=_camera_silent,
        description=(
            "True when the camera has sent nothing for much longer than its usual gap "
            f"(usualGapSeconds x {SILENT_FACTOR:g}, at least {SILENT_FLOOR_S:g} s); null "
            f"while its history is too short to tell (fewer than {MIN_ACTIVE_HOURS} "
            "complete active hours)."
        ),
    )
    usual_gap_seconds: float | None = strawberry.field(
        resolver=_camera_usual_gap,
        description=(
            "The 95th percentile of the time between reads its hourly rollups imply, "
            "over the week before its last read; null when not known."
        ),
    )
    reads_per_hour: list[HourlyCount] = strawberry.field(
        resolver=_camera_hours,
        description=f"Reads per hour over the newest `hours` (1-{HISTORY_HOURS}), oldest first.",
    )


@strawberry.type(description="Where and when a plate was seen by one camera.")
class PlateSighting:
    camera_id: str
    site_id: str | None
    first_seen: datetime
    last_seen: datetime
    read_count: int

    @strawberry.field
    async def camera(self, info: Info) -> Camera | None:
        return await info.context.reader.camera(self.camera_id)


@strawberry.type(description="A normalized plate's summary, from the plates table.")
class Plate:
    text: str
    first_seen: datetime
    last_seen: datetime
    read_count: int
    last_region: str
    last_camera_id: str

    @classmethod
    def from_row(cls, row: RowLike) -> Plate:
        return cls(
            text=row["plate_normalized_text"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            read_count=row["read_count"],
            last_region=row["last_region"],
            last_camera_id=row["last_camera_id"],
        )

    @strawberry.field
    async def cameras(self, info: Info) -> list[PlateSighting]:
        return await info.context.reader.plate_sightings(self.text)

    reads = _reads_field(lambda plate: EventQuery(plate=plate.text))

    @strawberry.field
    async def similar(
        self, info: Info, first: int = 10
    ) -> list[Annotated[PlateMatchNode, strawberry.lazy("schema.graphql.matches")]]:
        """Fuzzy neighbours (likely misreads of the same vehicle), best first."""
        return await info.context.reader.similar_plates(self.text, first)


@strawberry.type(description="A site: the cameras that report the same node.site.")
class Site:
    id: strawberry.ID
    camera_count: int
    read_count: int
    first_seen: datetime
    last_seen: datetime

    @strawberry.field
    async def cameras(self, info: Info) -> list[Camera]:
        return await info.context.reader.cameras(str(self.id))

    reads = _reads_field(lambda site: EventQuery(site_id=str(site.id)))


@strawberry.type
class HourlyCount:
    hour: datetime
    reads: int
    avg_confidence: float | None


@strawberry.type(
    description=(
        "Statistics from the writer-kept rollups. Windows are counted in whole hours "
        "(since/until give the hours actually counted); uniquePlates for a window is "
        "counted in whole UTC days and is null for a window combined with a camera or site."
    )
)
class Stats:
    since: datetime | None
    until: datetime | None
    total_reads: int
    unique_plates: int | None
    new_plates: int | None = strawberry.field(
        description="Plates first seen in the window (all cameras)."
    )
    active_cameras: int
    avg_confidence: float | None
    avg_latency_ms: float | None
    reads_per_hour: list[HourlyCount]


@strawberry.type(description="One audited operation.")
class AuditRecord:
    id: strawberry.ID
    at: datetime
    key_id: str | None
    client: str | None
    operation: str
    variables: JSON
    result_count: int | None
    purpose: str | None


@strawberry.type(description="What one ingestor process last reported about itself.")
class IngestorReport:
    ingestor: str = strawberry.field(description="host:pid")
    sources: list[str]
    started_at: datetime
    updated_at: datetime
    stopped_at: datetime | None
    reporting: bool = strawberry.field(
        description="Not stopped, and reported within the last 30 seconds (it reports every 5)."
    )
    consumed: int = strawberry.field(description="Since the process started, as the rest.")
    stored: int
    duplicates: int
    dead_lettered: int
    last_dead_letter_at: datetime | None

    @classmethod
    def from_row(cls, row: RowLike, now: datetime) -> IngestorReport:
        reporting = row["stopped_at"] is None and (now - row["updated_at"]).total_seconds() < 30
        return cls(
            ingestor=row["ingestor"],
            sources=list(row["sources"]),
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            stopped_at=row["stopped_at"],
            reporting=reporting,
            consumed=row["consumed"],
            stored=row["stored"],
            duplicates=row["duplicates"],
            dead_lettered=row["dead_lettered"],
            last_dead_letter_at=row["last_dead_letter_at"],
        )


@strawberry.type(description="A Kafka partition's consumer lag, as last measured.")
class PartitionLag:
    topic: str
    partition: int
    lag: int = strawberry.field(description="Messages behind the log end.")
    measured_at: datetime = strawberry.field(description="After the batch that measured it.")
    ingestor: str

    @classmethod
    def from_row(cls, row: RowLike) -> PartitionLag:
        return cls(
            topic=row["topic"],
            partition=row["partition"],
            lag=row["lag"],
            measured_at=row["measured_at"],
            ingestor=row["ingestor"],
        )


@strawberry.type(
    description=(
        "What the writer stored lately, from its announcements: the newest batch, "
        "how far its newest read trails its capture (lagSeconds), reads stored in "
        "the last hour; and what the ingestors report about themselves: dead "
        "letters, Kafka consumer lag per partition."
    )
)
class IngestHealth:
    checked_at: datetime
    last_batch_id: strawberry.ID | None
    last_batch_at: datetime | None
    last_batch_reads: int | None
    lag_seconds: float | None
    stored_last_hour: int
    ingestors: list[IngestorReport] = strawberry.field(
        description="Ingestors heard from in the last day, newest report first."
    )
    partitions: list[PartitionLag] = strawberry.field(
        description="Each Kafka partition's newest lag, whichever ingestor measured it."
    )

    @classmethod
    def from_rows(
        cls, row: RowLike, ingestors: Sequence[RowLike], lags: Sequence[RowLike]
    ) -> IngestHealth:
        batch = row["batch_id"]
        now = row["checked_at"]
        return cls(
            checked_at=now,
            last_batch_id=None if batch is None else strawberry.ID(str(batch)),
            last_batch_at=row["stored_at"],
            last_batch_reads=row["batch_reads"],
            lag_seconds=None if row["lag_s"] is None else float(row["lag_s"]),
            stored_last_hour=row["stored_last_hour"],
            ingestors=[IngestorReport.from_row(r, now) for r in ingestors],
            partitions=[PartitionLag.from_row(r) for r in lags],
        )


@strawberry.type(description="A legal hold: its reads survive retention until it is released.")
class LegalHold:
    id: strawberry.ID
    event_id: str | None
    plate: str | None
    held_from: datetime | None
    held_until: datetime | None
    case_number: str | None
    reason: str
    created_by: str
    created_at: datetime
    active: bool
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None
