"""Retention: delete reads past their age, except those under hold; delete
closed alerts past theirs.

A read is held by an active legal hold (on the read, or on its plate within
a window) and by an alert that is open (new, acknowledged) or was closed as
confirmed: the database view `read_holds` lists the reads held one by one,
whichever the reason, and every step below honours it.

One run (`run_retention`) works in four steps, each deletion recorded in
`retention_deletions` under a row of `retention_runs`; a read's id goes
from `event_ids` with the read, in the same transaction:

1. Whole partitions (TimescaleDB chunks, or the daily range partitions of
   plain PostgreSQL) that end before the oldest cutoff of every rule are
   dropped at once when no hold covers a read inside them; a partition that
   holds held reads is emptied row by row instead, so the held reads stay
   where queries find them. On TimescaleDB the plate-ordered copy of
   compressed days gives up the ranges that hold them first (its chunks span
   30 days and go whole; plate walks read those days from `plate_events`
   from then on); step 2 does the same for what it deletes. Legal holds are
   locked (SHARE) while a partition is judged and dropped, so none can slip
   in between.
2. What remains past a cutoff (the partition that straddles it, and per-site
   rules) is deleted row by row, one UTC day per transaction.
3. `plates` and `plate_cameras` rows of plates with no read left and not
   seen since the oldest cutoff are purged: they hold plate text too.
4. Alerts closed more than `alert_days` ago go, with their reads' records
   (`alert_reads`) and their delivered webhook messages: the reads a
   confirmed alert kept are free for the next run.

Runs take a session advisory lock: with several ingestors, one runs it and
the others skip. Aggregates without plate text (hourly counts per camera)
are kept, so statistics still count deleted reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

import asyncpg

from core.db import translated
from core.settings import RetentionSettings
from schema.errors import StorageError
from sql import Query, load_queries

log = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells "alprrten".
LOCK_KEY: Final = 0x616C70727274656E
_DAY: Final = timedelta(days=1)
# The deletions that take reads (the others take plates and alerts).
READ_DELETIONS: Final = frozenset({"drop_partition", "delete_rows"})


# A pool's connection proxy works wherever a connection does.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


def _queries() -> dict[str, Query]:
    return load_queries("retention")


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days reads are kept (by default, and per site), and closed
    alerts (after they were closed); None keeps them forever."""

    default_days: int | None = None
    site_days: Mapping[str, int] = field(default_factory=dict)
    alert_days: int | None = None

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> RetentionPolicy:
        return cls(settings.retention_days, settings.site_days(), settings.alert_retention_days)

    @property
    def enabled(self) -> bool:
        return self.default_days is not None or bool(self.site_days) or self.alert_days is not None

    def oldest_cutoff(self, now: datetime) -> datetime | None:
        """Before this, every read is past every rule; None if some reads are kept forever."""
        if self.default_days is None:
            return None
        return now - timedelta(days=max([self.default_days, *self.site_days.values()]))


@dataclass(frozen=True)
class Deletion:
    """One recorded deletion."""

    range_start: datetime | None
    range_end: datetime
    site_id: str | None
    method: str
    row_count: int
    held_rows_kept: int = 0


@dataclass
class RetentionReport:
    """What a run did; `run_id` is None when another run held the lock."""

    run_id: int | None = None
    deletions: list[Deletion] = field(default_factory=list)

    @property
    def deleted_rows(self) -> int:
        """Reads deleted."""
        return sum(d.row_count for d in self.deletions if d.method in READ_DELETIONS)

    @property
    def held_rows_kept(self) -> int:
        return sum(d.held_rows_kept for d in self.deletions)


@dataclass(frozen=True)
class _Scope:
    """Which sites a row-wise delete touches: one site, or all but some."""

    site_id: str | None = None
    except_sites: Sequence[str] | None = None

    def params(self) -> dict[str, str | list[str] | None]:
        """The `site_id` and `except_sites` parameters of the row-wise queries."""
        others = None if self.except_sites is None else list(self.except_sites)
        return {"site_id": self.site_id, "except_sites": others}


_ANY_SITE: Final = _Scope()


async def _record(conn: Conn, run_id: int, deletion: Deletion, report: RetentionReport) -> None:
    await conn.execute(
        *_queries()["record_deletion"].bind(
            run_id=run_id,
            range_start=deletion.range_start,
            range_end=deletion.range_end,
            site_id=deletion.site_id,
            method=deletion.method,
            row_count=deletion.row_count,
            held_rows_kept=deletion.held_rows_kept,
        )
    )
    report.deletions.append(deletion)


async def _expire_partition(
    conn: Conn, run_id: int, part: asyncpg.Record, report: RetentionReport
) -> None:
    """Drop one expired partition, or empty it row-wise if held reads are inside."""
    q = _queries()
    start, end = part["range_start"], part["range_end"]
    bounds = {"range_start": start, "range_end": end}
    async with conn.transaction():
        await conn.execute(*q["lock_holds"].bind())
        total = int(await conn.fetchval(*q["count_range"].bind(**bounds)))
        held = int(await conn.fetchval(*q["count_held"].bind(**bounds, **_ANY_SITE.params())))
        await conn.fetchval(*q["release_copy"].bind(**bounds))
        if held == 0:
            await conn.execute(*q["forget_range"].bind(**bounds))
            await conn.execute(*q["drop_partition"].bind(name=part["name"], **bounds))
            deletion = Deletion(start, end, None, "drop_partition", total)
        else:
            deleting = q["delete_range"].bind(**bounds, **_ANY_SITE.params())
            gone = int(await conn.fetchval(*deleting))
            deletion = Deletion(start, end, None, "delete_rows", gone, held)
        await _record(conn, run_id, deletion, report)


async def _delete_before(
    conn: Conn,
    run_id: int,
    cutoff: datetime,
    scope: _Scope,
    report: RetentionReport,
) -> None:
    """Delete the reads of `scope` before `cutoff` row-wise, a UTC day per transaction."""
    q = _queries()
    day = await _day_of_next_read(conn, None)
    while day is not None and day < cutoff:
        end = min(day + _DAY, cutoff)
        async with conn.transaction():
            bounds = {"range_start": day, "range_end": end, **scope.params()}
            gone = int(await conn.fetchval(*q["delete_range"].bind(**bounds)))
            held = int(await conn.fetchval(*q["count_held"].bind(**bounds)))
            if gone:
                await conn.fetchval(*q["release_copy"].bind(range_start=day, range_end=end))
                deletion = Deletion(day, end, scope.site_id, "delete_rows", gone, held)
                await _record(conn, run_id, deletion, report)
        if end >= cutoff:
            break
        # Skip the empty days: held reads may sit far apart in the past.
        day = await _day_of_next_read(conn, end)


async def _day_of_next_read(conn: Conn, after: datetime | None) -> datetime | None:
    """The UTC midnight before the first read at or after `after` (None: the oldest read)."""
    found = await conn.fetchval(*_queries()["next_read"].bind(after=after))
    if found is None:
        return None
    return found.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # type: ignore[no-any-return]


async def _purge_plates(conn: Conn, run_id: int, cutoff: datetime, report: RetentionReport) -> None:
    q = _queries()
    async with conn.transaction():
        gone = int(await conn.fetchval(*q["purge_plate_cameras"].bind(cutoff=cutoff)))
        days_gone = int(await conn.fetchval(*q["purge_plates"].bind(cutoff=cutoff)))
        days_gone += int(await conn.fetchval(*q["purge_plate_days"].bind(cutoff=cutoff)))
        if days_gone:  # only these two change what the day bitmaps hold
            await conn.execute(*q["rebuild_plate_day_bits"].bind(cutoff=cutoff))
        gone += days_gone
        if gone:
            await _record(conn, run_id, Deletion(None, cutoff, None, "purge_plates", gone), report)


async def _expire_alerts(
    conn: Conn, run_id: int, cutoff: datetime, report: RetentionReport
) -> None:
    async with conn.transaction():
        gone = int(await conn.fetchval(*_queries()["delete_closed_alerts"].bind(cutoff=cutoff)))
        if gone:
            await _record(conn, run_id, Deletion(None, cutoff, None, "delete_alerts", gone), report)


async def _apply(
    conn: Conn,
    run_id: int,
    policy: RetentionPolicy,
    now: datetime,
    report: RetentionReport,
) -> None:
    # Alerts first: the reads a closed confirmed alert held go in this run.
    if policy.alert_days is not None:
        await _expire_alerts(conn, run_id, now - timedelta(days=policy.alert_days), report)
    oldest_cutoff = policy.oldest_cutoff(now)
    if oldest_cutoff is not None:
        expired = _queries()["expired_partitions"].bind(cutoff=oldest_cutoff)
        for part in await conn.fetch(*expired):
            await _expire_partition(conn, run_id, part, report)
    for site, days in sorted(policy.site_days.items()):
        await _delete_before(conn, run_id, now - timedelta(days=days), _Scope(site), report)
    if policy.default_days is not None:
        others = _Scope(except_sites=sorted(policy.site_days))
        await _delete_before(
            conn, run_id, now - timedelta(days=policy.default_days), others, report
        )
    if oldest_cutoff is not None:
        await _purge_plates(conn, run_id, oldest_cutoff, report)


@translated
async def run_retention(
    conn: Conn, policy: RetentionPolicy, now: datetime | None = None
) -> RetentionReport:
    """Apply `policy` once on a connection this call may hold for a while.

    Returns an empty report without a run id when another run holds the lock.
    """
    report = RetentionReport()
    if not policy.enabled:
        return report
    q = _queries()
    now = now or datetime.now(UTC)
    if not await conn.fetchval(*q["try_lock"].bind(lock_key=LOCK_KEY)):
        log.info("retention: another run is in progress; skipped")
        return report
    try:
        site_json = json.dumps(dict(policy.site_days))
        starting = q["start_run"].bind(default_days=policy.default_days, site_days=site_json)
        report.run_id = int(await conn.fetchval(*starting))
        error: str | None = None
        try:
            await _apply(conn, report.run_id, policy, now, report)
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await conn.execute(
                *q["finish_run"].bind(
                    run_id=report.run_id,
                    deleted_rows=report.deleted_rows,
                    held_rows_kept=report.held_rows_kept,
                    error=error,
                )
            )
    finally:
        await conn.fetchval(*q["unlock"].bind(lock_key=LOCK_KEY))
    log.info(
        "retention run %s: %d reads deleted, %d held reads kept, %d deletions recorded",
        report.run_id,
        report.deleted_rows,
        report.held_rows_kept,
        len(report.deletions),
    )
    return report


async def retention_loop(
    pool: asyncpg.Pool[Any], policy: RetentionPolicy, interval_s: float, stop: asyncio.Event
) -> None:
    """Run retention every `interval_s` until `stop` is set; for the ingestor's main.

    A failed run is logged and tried again at the next interval: retention is
    never worth stopping the ingest for. Returns at once when `policy` is off.
    """
    while policy.enabled and not stop.is_set():
        try:
            async with pool.acquire() as conn:
                await run_retention(conn, policy)
        except StorageError as exc:
            log.warning("retention run failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass
