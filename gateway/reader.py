"""The request's reader: DataLoaders for nested objects, pages of reads.

One `DbReader` per request (per websocket connection for subscriptions):
the loaders batch every `camera`/`plate` lookup of a page into one query and
cache them for the request, so a page of 100 reads with their cameras and
plates costs three statements. A page's cameras and plates are loaded once
for the page and set on its reads (`attach`), not resolved read by read.
It also counts the plate data it hands out, which is what the audit record
reports: into the `Tally` of the operation running, not into the reader, as
a websocket connection's one reader serves all its operations, several at
once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from gateway import queries
from gateway.plate_search import similar_plates
from schema.cameras import HISTORY_HOURS, CameraGap
from schema.errors import Forbidden
from schema.filters import EventQuery
from schema.graphql.matches import PlateMatchNode
from schema.graphql.selection import NO_NESTED
from schema.graphql.types import (
    Camera,
    Event,
    EventConnection,
    HourlyCount,
    Plate,
    PlateSighting,
)
from schema.paging import PageRequest


class Tally:
    """The plate data one operation handed out: whether any, and how many
    reads and plates (the audit record's result count)."""

    __slots__ = ("count", "touched")

    def __init__(self) -> None:
        self.touched = False
        self.count = 0


# Set per operation in the task that runs it; the tasks graphql-core starts
# for its resolvers inherit the same (mutable) Tally.
_tally: ContextVar[Tally | None] = ContextVar("alpr_operation_tally", default=None)


def start_tally() -> Tally:
    """A fresh tally for the operation starting in this task."""
    tally = Tally()
    _tally.set(tally)
    return tally


def _count(found: int) -> None:
    tally = _tally.get()
    if tally is not None:
        tally.count += found


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def _shared(future: Awaitable[T]) -> Awaitable[T]:
    """A loader's future, awaited so that cancelling one waiter leaves it to the
    others. The loader hands every field asking for a key the same future;
    graphql-core cancels the items of a list still pending when one fails,
    and a waiter cancelled on the bare future cancels it for every field,
    also those outside the list that nobody cancels: their CancelledError
    escaped the executor, and the request answered 500."""
    return asyncio.shield(future)


async def _load_for_page(
    loader: DataLoader[K, V | None],
    keys: list[K],
    load: Callable[[list[K]], Awaitable[list[V | None]]],
) -> dict[K, V]:
    """The objects of a page's `keys`, those the request has not loaded yet in
    one query, as the loader would batch them, but without the loader's
    future and callback per key (a third of a page of 100's reader CPU).
    They are put in the loader's cache, so later loads of the request reuse
    them; keys already there (or in flight) come from the loader."""
    cache = loader.cache_map if loader.cache else None
    missing = [key for key in keys if cache is None or cache.get(key) is None]
    found = dict(zip(missing, await load(missing), strict=True)) if missing else {}
    loader.prime_many(found)
    known = [key for key in keys if key not in found]
    if known:
        found.update(zip(known, await _shared(loader.load_many(known)), strict=True))
    return {key: value for key, value in found.items() if value is not None}


class DbReader:
    """Implements `schema.graphql.context.Reader` over a pool."""

    def __init__(
        self,
        db: queries.Db,
        purpose_check: Callable[[], None] | None = None,
        cache: bool = True,
    ) -> None:
        # `cache=False` for websocket connections: they live for hours, and a
        # cache would serve stale counts and grow with every plate seen.
        self.db = db
        self._purpose_check = purpose_check
        self._cameras: DataLoader[str, Camera | None] = DataLoader(
            load_fn=self._load_cameras, cache=cache
        )
        self._plates: DataLoader[str, Plate | None] = DataLoader(
            load_fn=self._load_plates, cache=cache
        )
        self._gaps: DataLoader[str, CameraGap | None] = DataLoader(
            load_fn=self._load_gaps, cache=cache
        )
        self._hours: DataLoader[tuple[str, int], list[HourlyCount]] = DataLoader(
            load_fn=self._load_hours, cache=cache
        )

    def note_plate_data(self, count: int) -> None:
        # Called before handing out plate data: enforces the purpose rule
        # and feeds the audit record.
        if self._purpose_check is not None:
            self._purpose_check()
        tally = _tally.get()
        if tally is not None:
            tally.touched = True
            tally.count += count

    async def _load_cameras(self, ids: list[str]) -> list[Camera | None]:
        rows = {row["camera_id"]: row for row in await queries.fetch_cameras(self.db, ids)}
        return [Camera.from_row(rows[i]) if i in rows else None for i in ids]

    async def _load_plates(self, texts: list[str]) -> list[Plate | None]:
        rows = {
            row["plate_normalized_text"]: row for row in await queries.fetch_plates(self.db, texts)
        }
        return [Plate.from_row(rows[t]) if t in rows else None for t in texts]

    async def _load_gaps(self, ids: list[str]) -> list[CameraGap | None]:
        rows = await queries.fetch_camera_gaps(self.db, ids, HISTORY_HOURS)
        gaps = CameraGap.by_camera(rows)
        return [gaps.get(i) for i in ids]

    async def _load_hours(self, keys: list[tuple[str, int]]) -> list[list[HourlyCount]]:
        # One query from the earliest hour any key asks for; each key keeps its own.
        now = queries.floor_hour(datetime.now(UTC))
        since = now - timedelta(hours=max(hours for _, hours in keys) - 1)
        ids = list({camera_id: 0 for camera_id, _ in keys})
        found: dict[tuple[str, datetime], HourlyCount] = {
            (row["camera_id"], row["bucket"]): HourlyCount(
                hour=row["bucket"], reads=row["reads"], avg_confidence=row["avg_confidence"]
            )
            for row in await queries.fetch_cameras_hourly(self.db, ids, since)
        }
        series = []
        for camera_id, hours in keys:
            wanted = [now - timedelta(hours=back) for back in range(hours - 1, -1, -1)]
            zero = functools.partial(HourlyCount, reads=0, avg_confidence=None)
            series.append([found.get((camera_id, hour)) or zero(hour=hour) for hour in wanted])
        return series

    async def camera(self, camera_id: str) -> Camera | None:
        return await _shared(self._cameras.load(camera_id))

    async def camera_gap(self, camera_id: str) -> CameraGap | None:
        return await _shared(self._gaps.load(camera_id))

    async def camera_hours(self, camera_id: str, hours: int) -> list[HourlyCount]:
        return await _shared(self._hours.load((camera_id, hours)))

    async def plate(self, normalized: str) -> Plate | None:
        self.note_plate_data(0)
        plate = await _shared(self._plates.load(normalized))
        _count(plate is not None)
        return plate

    async def _attach_cameras(self, events: Sequence[Event]) -> None:
        ids = list({e.camera_id: 0 for e in events})
        by_id = await _load_for_page(self._cameras, ids, self._load_cameras)
        for event in events:
            event.camera = by_id.get(event.camera_id)

    async def _attach_plates(self, events: Sequence[Event]) -> None:
        self.note_plate_data(0)
        texts = list({e.plate_normalized: 0 for e in events})
        by_text = await _load_for_page(self._plates, texts, self._load_plates)
        for event in events:
            event.plate = by_text.get(event.plate_normalized)
            # Each read's plate counts, as when they were resolved one by one.
            _count(event.plate is not None)

    async def attach(self, events: Sequence[Event], nested: frozenset[str]) -> None:
        """Set `camera`/`plate` (as named in `nested`) on `events`: one batch each."""
        if not events or not nested:
            return
        loads = []
        if "camera" in nested:
            loads.append(self._attach_cameras(events))
        if "plate" in nested:
            loads.append(self._attach_plates(events))
        await asyncio.gather(*loads)

    async def events(
        self, query: EventQuery, page: PageRequest, nested: frozenset[str] = NO_NESTED
    ) -> EventConnection:
        self.note_plate_data(0)
        rows, more = await queries.fetch_events(self.db, query, page)
        _count(len(rows))
        connection = EventConnection.from_rows(rows, page, more)
        await self.attach([edge.node for edge in connection.edges], nested)
        return connection

    async def event(self, event_id: Any, nested: frozenset[str] = NO_NESTED) -> Event | None:
        self.note_plate_data(0)
        row = await queries.fetch_event(self.db, event_id)
        _count(row is not None)
        if row is None:
            return None
        event = Event.from_row(row)
        await self.attach([event], nested)
        return event

    async def plate_sightings(self, normalized: str) -> list[PlateSighting]:
        self.note_plate_data(0)
        rows = await queries.fetch_plate_sightings(self.db, normalized)
        _count(len(rows))
        return [
            PlateSighting(
                camera_id=row["camera_id"],
                site_id=row["site_id"],
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                read_count=row["read_count"],
            )
            for row in rows
        ]

    async def cameras(self, site_id: str | None) -> list[Camera]:
        return [Camera.from_row(row) for row in await queries.list_cameras(self.db, site_id)]

    async def similar_plates(self, normalized: str, first: int) -> list[PlateMatchNode]:
        self.note_plate_data(0)
        matches = await similar_plates(self.db, normalized, first)
        _count(len(matches))
        return [PlateMatchNode.from_match(m) for m in matches]


def forbid_without_purpose(purpose: str | None) -> Callable[[], None] | None:
    """A check that refuses plate data when no purpose was stated."""
    if purpose:
        return None

    def check() -> None:
        raise Forbidden("a purpose is required to read plate data (X-Purpose header)")

    return check
