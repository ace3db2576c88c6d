"""The gateway's reads: one function per query of sql/queries/gateway.sql.

GraphQL resolvers and REST handlers both call these, so the two APIs cannot
drift apart. Every function counts its statements (`SQL_QUERIES`, by
statement name) and leaves driver errors as `StorageError`s.

`stats` comes in variants, each a fixed statement made at import from one
template of gateway.sql (`_stats_statements`), so each variant is prepared
once per connection and planned once (the gateway's sessions plan
generically). The events pages are one statement (gateway.sql `events_page`)
whose function, alpr_events_page, reads each page as the database's engine
reads it fastest: its migration comes in one variant per engine, so the
choice is made once, where the engine is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, get_args
from uuid import UUID

import asyncpg

from core.db import translated
from gateway.metrics import SQL_QUERIES
from schema.filters import EventQuery
from schema.paging import PageRequest
from sql import Query, fill, load_blocks, load_queries

if TYPE_CHECKING:
    Db = asyncpg.Pool[Any]
else:
    Db = asyncpg.Pool
Row = asyncpg.Record
MAX_SERIES_HOURS = 31 * 24


# The keys of the events filter: EventQuery field (and parameter), column.
_KEYS: Final = (
    ("plate", "plate_normalized_text"),
    ("camera_id", "camera_id"),
    ("site_id", "site_id"),
)


# The unique_plates_* fragments of `stats`: which table counts distinct plates.
UniquePlates = Literal["all", "camera", "site", "days", "none"]


def events_filter() -> str:
    """The `events_filter` fragment, its keys filled as optional filters:
    pieces of SQL with named parameters, for a template's `{filter}` slot."""
    keys = [f"(:{field}::text IS NULL OR {column} = :{field})" for field, column in _KEYS]
    return fill(load_blocks("gateway")["events_filter"], keys="\n  AND ".join(keys))


def _stats_statements() -> dict[str, Query]:
    """stats_{all,camera,site,days,none}: `stats` with each unique_plates_* fragment."""
    blocks = load_blocks("gateway")
    return {
        f"stats_{source}": Query.parse(
            fill(blocks["stats"], unique_plates=blocks[f"unique_plates_{source}"])
        )
        for source in get_args(UniquePlates)
    }


QUERIES: Final = {**load_queries("gateway"), **_stats_statements()}


async def _fetch(db: Db | asyncpg.Connection[Any], name: str, **params: Any) -> list[Row]:
    SQL_QUERIES.labels(name).inc()
    return await db.fetch(*QUERIES[name].bind(**params))


async def _fetchval(db: Db | asyncpg.Connection[Any], name: str, **params: Any) -> Any:
    SQL_QUERIES.labels(name).inc()
    return await db.fetchval(*QUERIES[name].bind(**params))


def filter_params(query: EventQuery) -> dict[str, Any]:
    """The parameters of `events_filter`, from `query`."""
    return {
        "plate": query.plate,
        "camera_id": query.camera_id,
        "site_id": query.site_id,
        "since": query.since,
        "until": query.until,
        "direction": query.direction,
        "vehicle_make": query.vehicle_make,
        "vehicle_color": query.vehicle_color,
        "vehicle_type": query.vehicle_type,
        "min_confidence": query.min_confidence,
    }


@translated
async def fetch_events(db: Db, query: EventQuery, page: PageRequest) -> tuple[list[Row], bool]:
    """One page of reads in newest-first order, and whether more lie beyond it."""
    cursor = page.cursor
    rows = await _fetch(
        db,
        "events_page",
        **filter_params(query),
        backward=page.backward,
        offset=0,
        cursor_at=cursor.captured_at if cursor else None,
        cursor_id=cursor.event_id if cursor else None,
        limit=page.limit + 1,
    )
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.backward:
        rows.reverse()
    return rows, more


# An events page no read can fill: a camera no reader names, over an empty
# window (on plain PostgreSQL the one keyset statement, every partition
# pruned at start-up; on TimescaleDB the walk, no day to read).
_UNFILLABLE_PAGE: Final = {
    **filter_params(EventQuery()),
    "camera_id": "",
    "since": datetime(1970, 1, 1, tzinfo=UTC),
    "until": datetime(1970, 1, 1, tzinfo=UTC),
    "backward": False,
    "offset": 0,
    "cursor_at": None,
    "cursor_id": None,
    "limit": 1,
}


async def prepare_events_page(conn: asyncpg.Connection[Any]) -> None:
    """Run the events page once on a new connection, reading nothing.

    Every events page is one statement (events_page); its first execution on
    a connection builds its generic plan, and with a year of daily partitions
    on plain PostgreSQL that plan holds every partition: planning it and
    loading each partition's catalog entries takes ~120 ms at 379 partitions
    (bench/README.md, issue #15). Run here, the statement stays prepared in
    the connection's statement cache with its plan, so no page on the
    connection pays that. Not counted in SQL_QUERIES: no client asked for it.
    """
    await conn.fetch(*QUERIES["events_page"].bind(**_UNFILLABLE_PAGE))


@translated
async def fetch_event(db: Db, event_id: UUID) -> Row | None:
    """The read stored with `event_id` (the one event_ids claims it for), or None."""
    rows = await _fetch(db, "event_by_id", event_id=event_id)
    return rows[0] if rows else None


@translated
async def fetch_events_by_offset(db: Db, plate: str, limit: int, offset: int) -> list[Row]:
    """A plate's reads newest first, `limit` of them after the first `offset`."""
    return await _fetch(
        db,
        "events_page",
        **filter_params(EventQuery(plate=plate)),
        backward=False,
        offset=offset,
        cursor_at=None,
        cursor_id=None,
        limit=limit,
    )


@translated
async def fetch_events_by_keys(
    db: Db | asyncpg.Connection[Any], event_ids: list[UUID], captured_ats: list[datetime]
) -> list[Row]:
    return await _fetch(db, "events_by_keys", event_ids=event_ids, captured_ats=captured_ats)


@translated
async def fetch_cameras(db: Db, camera_ids: list[str]) -> list[Row]:
    return await _fetch(db, "cameras_by_ids", camera_ids=camera_ids)


@translated
async def list_cameras(db: Db, site_id: str | None, limit: int = 1000) -> list[Row]:
    return await _fetch(db, "cameras_list", site_id=site_id, limit=limit)


@translated
async def fetch_camera_gaps(db: Db, camera_ids: list[str] | None, history_hours: int) -> list[Row]:
    return await _fetch(db, "camera_gaps", camera_ids=camera_ids, history_hours=history_hours)


@translated
async def fetch_cameras_hourly(db: Db, camera_ids: list[str], since: datetime) -> list[Row]:
    return await _fetch(db, "cameras_hourly", camera_ids=camera_ids, since=since)


@translated
async def fetch_ingest_health(db: Db) -> Row:
    return (await _fetch(db, "ingest_health"))[0]


@translated
async def fetch_plates(db: Db, plates: list[str]) -> list[Row]:
    return await _fetch(db, "plates_by_texts", plates=plates)


@translated
async def fetch_plate_sightings(db: Db, plate: str, limit: int = 100) -> list[Row]:
    return await _fetch(db, "plate_cameras", plate=plate, limit=limit)


@translated
async def list_sites(db: Db, site_id: str | None = None) -> list[Row]:
    return await _fetch(db, "sites_list", site_id=site_id)


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floor = floor_hour(at)
    return floor if floor == at else floor + timedelta(hours=1)


def _day_window(since: datetime | None, until: datetime | None) -> tuple[date, date]:
    start = since.astimezone(UTC).date() if since else date(1970, 1, 1)
    end_at = until.astimezone(UTC) if until else datetime.now(UTC) + timedelta(days=1)
    end = end_at.date() + timedelta(days=0 if end_at.time() == datetime.min.time() else 1)
    return start, end


@dataclass(frozen=True)
class StatsWindow:
    """A window of whole hours split for the `stats` totals: whole UTC days,
    and the partial days at each edge."""

    start: datetime | None
    end: datetime | None
    day_from: date | None
    day_to: date | None
    head_end: datetime | None
    tail_start: datetime | None

    @classmethod
    def split(cls, start: datetime | None, end: datetime | None) -> StatsWindow:
        first_day = _ceil_day(start) if start else None
        last_day = _floor_day(end) if end else None
        if first_day is not None and last_day is not None and first_day >= last_day:
            # Less than one whole day: hours only, and an empty day range.
            empty = first_day.date()
            return cls(start, end, empty, empty, end, None)
        return cls(
            start,
            end,
            first_day.date() if first_day else None,
            last_day.date() if last_day else None,
            first_day,
            last_day,
        )

    def params(self, camera_id: str | None, site_id: str | None) -> dict[str, Any]:
        """The parameters of the totals of `stats`."""
        return {
            "start": self.start,
            "end": self.end,
            "camera_id": camera_id,
            "site_id": site_id,
            "day_from": self.day_from,
            "day_to": self.day_to,
            "head_end": self.head_end,
            "tail_start": self.tail_start,
        }


def _floor_day(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil_day(at: datetime) -> datetime:
    floor = _floor_day(at)
    return floor if floor == at else floor + timedelta(days=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def unique_plates_source(
    since: datetime | None,
    until: datetime | None,
    camera_id: str | None,
    site_id: str | None,
) -> tuple[UniquePlates, dict[str, Any]]:
    """Which unique_plates_* fragment of `stats` counts the distinct plates
    (the table that keeps them at this grain; "none" when no table does),
    and the parameters it adds."""
    if since is None and until is None:
        if camera_id is not None:
            return "camera", {}
        return ("site", {}) if site_id is not None else ("all", {})
    if camera_id is None and site_id is None:
        day_from, day_to = _day_window(since, until)
        return "days", {"plate_day_from": day_from, "plate_day_to": day_to}
    return "none", {}


@translated
async def fetch_stats(
    db: Db,
    since: datetime | None,
    until: datetime | None,
    camera_id: str | None,
    site_id: str | None,
    series_hours: int = 24,
    count_unique: bool = True,
) -> dict[str, Any]:
    """Totals, unique plates and an hourly series, from rollups only, in one statement.

    Totals: the whole history from `cameras`; a window over all cameras from
    `reads_hourly` (active cameras probed in `camera_daily`/`camera_hourly`);
    a window for a camera or site from its whole days in `camera_daily` and
    its partial days in `camera_hourly`.
    Unique plates: whole history from `plates_hourly` (`camera_plate_counts`
    for a camera, `site_plate_counts` for a site); for a time window from
    `plate_day_bits` in whole UTC days; a window together with a camera or
    site is not kept, so it is None.
    The series covers the newest `series_hours` hours of the window, as
    (hour, reads, average confidence) oldest first (none for 0).
    `count_unique=False` leaves unique plates out (None): the part whose cost
    grows with the plates (days x plates / 16,384 chunks over a window).
    """
    start = floor_hour(since) if since else None
    end = ceil_hour(until) if until else None
    window = StatsWindow.split(start, end)
    series_end = end or ceil_hour(datetime.now(UTC))
    series_start = max(series_end - timedelta(hours=series_hours), start or _EPOCH)
    source, source_params = (
        unique_plates_source(since, until, camera_id, site_id) if count_unique else ("none", {})
    )
    rows = await _fetch(
        db,
        f"stats_{source}",
        **window.params(camera_id, site_id),
        **source_params,
        series_start=series_start,
        series_end=series_end,
        history=since is None and until is None and site_id is None,
    )
    row = rows[0]
    series = zip(
        row["series_hours"] or (),
        row["series_reads"] or (),
        row["series_confidence"] or (),
        strict=True,
    )
    return {
        "since": start,
        "until": end,
        "total_reads": row["total_reads"],
        "active_cameras": row["active_cameras"],
        "avg_confidence": row["avg_confidence"],
        "avg_latency_ms": row["avg_latency_ms"],
        "unique_plates": row["unique_plates"],
        "new_plates": row["new_plates"],
        "series": list(series),
    }


@translated
async def fetch_storage_stats(db: Db) -> Row:
    return (await _fetch(db, "storage_stats"))[0]


@translated
async def ping(db: Db) -> None:
    await _fetchval(db, "ping")


@translated
async def insert_audit(
    db: Db,
    key_id: str | None,
    client: str | None,
    operation: str,
    variables: dict[str, Any],
    result_count: int | None,
    purpose: str | None,
) -> None:
    SQL_QUERIES.labels("insert_audit").inc()
    await db.execute(
        *QUERIES["insert_audit"].bind(
            key_id=key_id,
            client=client,
            operation=operation,
            variables=json.dumps(variables, default=str),
            result_count=result_count,
            purpose=purpose,
        )
    )


@translated
async def fetch_audit(db: Db, before_id: int | None, key_id: str | None, limit: int) -> list[Row]:
    return await _fetch(db, "audit_page", before_id=before_id, key_id=key_id, limit=limit)


@translated
async def latest_batch(conn: asyncpg.Connection[Any]) -> int:
    return int(await _fetchval(conn, "latest_batch"))


@translated
async def batches_after(conn: asyncpg.Connection[Any], batch_id: int, limit: int) -> list[Row]:
    return await _fetch(conn, "batches_after", batch_id=batch_id, limit=limit)
