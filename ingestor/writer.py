"""The one write path: a batch of validated events into PostgreSQL, once.

Every source (Kafka, HTTP, file import) ends here. `Writer.write` stores a
batch in one transaction: create the day partitions the batch needs, put
the reads into `plate_events`, update `plates`, `plate_cameras`, `cameras`,
the rollups and `plate_days` from the rows actually inserted (a replay
changes nothing), copy a late read of a compressed day into the
plate-ordered copy when its range is copied (TimescaleDB), and announce
the batch (`stored_batches` + NOTIFY `alpr_stored`, delivered by
PostgreSQL only at commit).

One event id is one read: `event_ids` holds each stored read's id, and a
read whose id is there already is a duplicate when its content equals the
stored read's, and refused otherwise ("conflicting duplicate", code
`conflicting_duplicate`); of two reads with one id in a batch, the first
is written and the second compared with it.

Reads go in one of two ways. The fast way, for the usual batch of new
reads, COPYs their ids into `event_ids` and them into `plate_events`
inside a savepoint: a COPY costs the server a third of an `INSERT ...
SELECT ... ON CONFLICT` from a staging table. A read whose id is already
stored makes that COPY fail on a unique key; the savepoint is rolled back
and the batch takes the careful way: COPY into a staging table, `INSERT ...
ON CONFLICT DO NOTHING RETURNING`, and a look at the stored reads of the
ids that were there. After a conflict the writer stays careful (a replay
is rarely one batch long) until a careful batch finds no duplicate.

A `Writer` holds what it learns between batches: the UTC days whose
partition it has made sure of, and whether it is being careful. Each source
owns one (the Kafka source, the HTTP app, each file import), so one source's
replay does not slow another down and tests share nothing. `write_batch` is a
one-off write with a writer of its own, for tools and tests.

`Writer.write_isolating` is for batches that may hold a row the database refuses:
it splits a refused batch in halves until the culprits stand alone, stores
everything else, and returns the culprits with the database's reason. A
lone read refused with an error that does not name its content (not a
data or constraint error) is refused too, once a plain read written and
rolled back shows the database takes reads: otherwise the fault is the
database's, and it is raised.

Failures leave as the project's errors (`schema.errors`): `StorageUnavailable`
(retry later), `RowRejected` (a row's content), `StorageError` (anything else).
Deadlocks and serialization failures are retried here a few times first.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, Final, TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.db import DRIVER_ERRORS, translate
from ingestor.pipeline.message import CONFLICTING_DUPLICATE, ROW_REJECTED
from schema.errors import RowRejected, StorageError, StorageUnavailable
from schema.events import COLUMNS, PlateEvent
from sql import Query, load_queries

NOTIFY_CHANNEL: Final = "alpr_stored"
STAGING_TABLE: Final = "alpr_staging"
# The rows a batch inserted, the rollups' input (see sql/queries/ingest.sql).
INSERTED_TABLE: Final = "alpr_inserted"
INSERTED_COLUMNS: Final = (
    "event_id",
    "captured_at",
    "camera_id",
    "site_id",
    "plate_normalized_text",
    "plate_region",
    "plate_confidence",
    "latency_ms",
)
# Deadlocks and serialization failures are another writer's bad timing, not
# an outage: a quick retry usually succeeds.
_CONFLICT_RETRIES: Final = 5
_CONFLICT_ERRORS: Final = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
ID_COLUMNS: Final = ("event_id", "captured_at")
# What makes two reads with one id the same read: what the producer sent
# (plate_normalized_text is derived from plate_text).
COMPARED_COLUMNS: Final = tuple(c for c in COLUMNS if c != "plate_normalized_text")
# One C call per event instead of a Python loop over 22 columns.
_row: Final = attrgetter(*COLUMNS)
_inserted_row: Final = attrgetter(*INSERTED_COLUMNS)
_id_row: Final = attrgetter(*ID_COLUMNS)

# A connection of its own or one borrowed from a pool: the writer takes either.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


def _query(name: str) -> Query:
    return load_queries("ingest")[name]


@dataclass(frozen=True)
class Rejected:
    """An event that was not stored and never will be: why, and what kind of why."""

    event: PlateEvent
    reason: str
    code: str = ROW_REJECTED


@dataclass(frozen=True)
class WriteResult:
    """What one write did: `stored` new rows, `duplicates` already there,
    `rejected` refused (a conflicting duplicate, a row the database refuses)."""

    stored: int = 0
    duplicates: int = 0
    batch_ids: tuple[int, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.batch_ids + other.batch_ids,
            self.rejected + other.rejected,
        )


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
# What follows from the batch's stored reads (alpr_inserted), in order: the
# copy of late reads into the plate-ordered copy, then the rollups.
_ROLLUPS: Final = (
    "copy_late_reads",
    "insert_plates",
    "update_plates",
    "count_new_plates",
    "upsert_plate_cameras",
    "upsert_plate_sites",
    "upsert_cameras",
    "upsert_camera_hourly",
    "upsert_reads_hourly",
    "upsert_camera_daily",
    "upsert_plate_days",
)


class _PartitionDays:
    """UTC days whose partition this writer has already made sure of.

    Shared by the writer's connections: a miss costs one cheap, idempotent
    call. If a day's partition disappears (retention, or another database),
    the insert fails with "no partition", the cache is cleared and the batch
    retried.
    """

    def __init__(self) -> None:
        self.known: set[date] = set()

    def missing(self, events: Sequence[PlateEvent]) -> list[date]:
        """The UTC days of `events` not known yet; `RowRejected` for a time no
        calendar day holds (validation's window keeps those out)."""
        # Day numbers first: timestamp() is one C call per event, where
        # astimezone().date() makes two objects.
        numbers = {int(e.captured_at.timestamp() // 86_400) for e in events}
        try:
            days = {date.fromordinal(_EPOCH_ORDINAL + n) for n in numbers}
        except (ValueError, OverflowError):
            raise RowRejected("captured_at: outside the calendar once converted to UTC") from None
        return sorted(days - self.known)


def _is_missing_partition(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition" in str(exc)


def _differences(event: PlateEvent, stored: Mapping[str, Any]) -> list[str]:
    """The columns in which `event` is not the read `stored`."""
    return [c for c in COMPARED_COLUMNS if getattr(event, c) != stored[c]]


def _conflict(event: PlateEvent, stored: Mapping[str, Any], differs: list[str]) -> Rejected:
    at = stored["captured_at"].astimezone(UTC).isoformat()
    reason = (
        f"conflicting duplicate: event_id {event.event_id} already stored with "
        f"captured_at {at}; differs in {', '.join(differs)}"
    )
    return Rejected(event, reason, CONFLICTING_DUPLICATE)


def _distinct(events: Sequence[PlateEvent]) -> tuple[Sequence[PlateEvent], list[Rejected]]:
    """The batch with one read per event id, the first, in order; and the
    repeats whose content differs from their first, refused."""
    if len({e.event_id.int for e in events}) == len(events):
        return events, []  # the usual case, found with the cheapest hash there is
    first: dict[UUID, PlateEvent] = {}
    refused: list[Rejected] = []
    for e in events:
        kept = first.setdefault(e.event_id, e)
        if kept is not e:
            stored = dict(kept)
            differs = _differences(e, stored)
            if differs:
                refused.append(_conflict(e, stored, differs))
    return list(first.values()), refused


async def _update_rollups(conn: Connection) -> int | None:
    for name in _ROLLUPS:
        await conn.execute(*_query(name).bind())
    row = await conn.fetchrow(*_query("announce").bind())
    return None if row is None else int(row["batch_id"])


async def _insert_fast(conn: Connection, events: Sequence[PlateEvent]) -> bool:
    """COPY `events` and their ids; False if an id was already stored (nothing kept)."""
    try:
        async with conn.transaction():  # a savepoint: a conflict undoes only these COPYs
            await conn.copy_records_to_table(
                "event_ids", records=map(_id_row, events), columns=ID_COLUMNS
            )
            await conn.copy_records_to_table(
                "plate_events", records=map(_row, events), columns=COLUMNS
            )
    except asyncpg.UniqueViolationError:
        return False
    await conn.copy_records_to_table(
        INSERTED_TABLE, records=map(_inserted_row, events), columns=INSERTED_COLUMNS
    )
    return True


async def _insert_careful(
    conn: Connection, events: Sequence[PlateEvent]
) -> tuple[int, list[Rejected]]:
    """Staging COPY + INSERT ... ON CONFLICT DO NOTHING: how many were new, and
    the reads refused because their id is stored with other content."""
    await conn.copy_records_to_table(STAGING_TABLE, records=map(_row, events), columns=COLUMNS)
    status = await conn.execute(*_query("insert_events").bind())
    stored = int(status.split()[-1])
    if stored == len(events):
        return stored, []
    by_id = {e.event_id: e for e in events}
    refused = []
    for row in await conn.fetch(*_query("conflicting_repeats").bind()):
        event = by_id[row["event_id"]]
        refused.append(_conflict(event, row, _differences(event, row)))
    return stored, refused


def _probe() -> PlateEvent:
    """A plain, valid read for `Writer.refuses_any_read`, never committed."""
    return PlateEvent(
        event_id=uuid.uuid4(),
        captured_at=datetime.now(UTC),
        camera_id="alpr-write-probe",
        track_id="alpr-write-probe",
        plate_text="PROBE",
        plate_confidence=1.0,
    )


class _RolledBack(Exception):
    """Leaves the probe's transaction so that it is rolled back."""


class Writer:
    """Stores batches of one source; see the module docstring for what it remembers.

    One writer may write on several connections at once (the Kafka source
    writes two batches at a time): what it remembers is a cache and a hint,
    right whichever batch updates it last.
    """

    def __init__(self) -> None:
        self._days = _PartitionDays()
        # Whether the last batch met reads already stored (a replay is going on).
        self.careful = False

    async def write(self, conn: Connection, events: Sequence[PlateEvent]) -> WriteResult:
        """Store `events` in one transaction; replays and repeats count as duplicates.

        Conflicting duplicates come back in `rejected`. Raises
        `StorageUnavailable`, `RowRejected` or `StorageError`; on any error
        nothing of the batch is stored and nothing is announced.
        """
        if not events:
            return WriteResult()
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                return await self._write_once(conn, events)
            except _CONFLICT_ERRORS as exc:
                if attempt == _CONFLICT_RETRIES:
                    raise translate(exc) from exc
                await asyncio.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
            except asyncpg.CheckViolationError as exc:
                # The cache said the day existed, the database disagrees: forget
                # what we knew and go round once more, which creates it.
                if not _is_missing_partition(exc) or attempt == _CONFLICT_RETRIES:
                    raise translate(exc) from exc
                self._days.known.clear()
            except DRIVER_ERRORS as exc:
                self._days.known.clear()  # the transaction that made them may not have committed
                raise translate(exc) from exc
        raise StorageError("unreachable")  # pragma: no cover

    async def write_isolating(self, conn: Connection, events: Sequence[PlateEvent]) -> WriteResult:
        """Store `events`; if the database refuses rows, bisect until they stand alone.

        The good events are stored (in several transactions when a split was
        needed, each idempotent); the refused ones come back in `rejected`
        with the reason. A lone event refused with an error that does not
        name its content is refused only if the database takes a plain read
        (`refuses_any_read`); otherwise that error is raised. `StorageUnavailable`
        propagates, leaving some halves perhaps stored: the caller retries the
        whole batch, and the stored halves count as duplicates.
        """
        outcome = WriteResult()
        pending: list[Sequence[PlateEvent]] = [events]
        while pending:
            part = pending.pop()
            try:
                outcome = outcome + await self.write(conn, part)
            except StorageUnavailable:
                raise
            except StorageError as exc:
                if len(part) > 1:
                    middle = len(part) // 2
                    # Right half pushed first so the left is written first: order kept.
                    pending.extend([part[middle:], part[:middle]])
                elif isinstance(exc, RowRejected) or not await self.refuses_any_read(conn):
                    outcome = outcome + WriteResult(rejected=(Rejected(part[0], str(exc)),))
                else:
                    raise
        return outcome

    async def refuses_any_read(self, conn: Connection) -> bool:
        """Whether the database refuses a plain, valid read too: then a refusal
        is its fault, not a row's. The read is written and rolled back, so
        nothing of it stays or is announced; `StorageUnavailable` propagates."""
        days, careful = set(self._days.known), self.careful
        try:
            async with conn.transaction():
                await self._write_once(conn, [_probe()])
                raise _RolledBack
        except _RolledBack:
            return False
        except (*DRIVER_ERRORS, StorageError) as exc:
            error = translate(exc)
            if isinstance(error, StorageUnavailable):
                raise error from exc
            return True
        finally:
            self._days.known, self.careful = days, careful

    async def _write_once(self, conn: Connection, events: Sequence[PlateEvent]) -> WriteResult:
        distinct, refused = _distinct(events)
        await conn.execute(*_query("create_staging").bind())
        async with conn.transaction():
            await self._ensure_partitions(conn, distinct)
            if not self.careful and await _insert_fast(conn, distinct):
                stored = len(distinct)
            else:
                stored, conflicting = await _insert_careful(conn, distinct)
                refused += conflicting
                self.careful = stored < len(distinct)
            batch_id = await _update_rollups(conn) if stored else None
        return WriteResult(
            stored=stored,
            duplicates=len(events) - stored - len(refused),
            batch_ids=() if batch_id is None else (batch_id,),
            rejected=tuple(refused),
        )

    async def _ensure_partitions(self, conn: Connection, events: Sequence[PlateEvent]) -> None:
        missing = self._days.missing(events)
        if missing:
            await conn.fetchval(*_query("ensure_partitions").bind(days=missing))
            # Remembered now; write() forgets them all if the transaction fails.
            self._days.known.update(missing)


async def write_batch(conn: Connection, events: Sequence[PlateEvent]) -> WriteResult:
    """`Writer.write` with a writer of its own: for tools and tests, not for sources."""
    return await Writer().write(conn, events)


async def merge_search_pending(conn: Connection) -> int:
    """Merge the plate-search indexes' pending lists; returns the pages merged."""
    try:
        return int(await conn.fetchval(*_query("merge_search_pending").bind()))
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc


async def prune_announcements(conn: Connection, keep_s: float = 3600.0) -> int:
    """Delete `stored_batches` rows older than `keep_s`; returns how many."""
    try:
        status = await conn.execute(*_query("prune_announcements").bind(keep_s=keep_s))
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    return int(status.split()[-1])
