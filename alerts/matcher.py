"""The matcher: follows stored batches and turns hits into alerts, exactly once.

One matcher is active at a time: it holds a session advisory lock on its
own connection, and a second process waits for it. Everything it does runs
on that connection, so when the connection is lost the lock goes with it
and no round can commit after another process took over.

A round (`round_once`) takes the next batches (`alerts.follower`), loads
their reads with the exact entries each hits (one SQL statement), matches
each read against the in-memory patterns and fuzzy entries
(`alerts.lists`), and in ONE transaction writes the alerts, their reads,
the webhook deliveries, one `NOTIFY alpr_alerts` per new alert, and the new
watermark. The round yields the event loop every `YIELD_EVERY` reads, so
the webhook deliverer sharing it is not held up by a long round.

Searches of past reads for entries just added (`alerts.backfill`) run
beside the rounds, in a task with a connection of its own (started and
ended with the session), pausing before each chunk of work until the live
matcher is idle: a large backfill never delays a live round by more than
one chunk. Live rounds and backfill transactions take the record lock
(`backfill.RECORD_LOCK`), so they never both record one read.

A database outage ends the session: the matcher reconnects with backoff,
takes the lock again and resumes from the stored watermark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from alerts import backfill, metrics
from alerts.entries import Hit, Read, region_mismatch
from alerts.follower import Follower, Take
from alerts.lists import MemoryLists
from alerts.passes import record
from core.db import DRIVER_ERRORS, translate
from core.settings import AlertSettings
from schema.errors import StorageError
from sql import load_queries

log = logging.getLogger(__name__)

LOCK_KEY: Final = 0x616C7072616C7274  # "alpralrt"
APPLICATION_NAME: Final = "alpr-alerts-matcher"
FOLLOWER: Final = "alerts"
CHANNELS: Final = ("alpr_stored", "alpr_hotlists")
YIELD_EVERY: Final = 200
# The longest a backfill chunk waits for the live matcher to be idle.
PAUSE_MAX_S: Final = 1.0

# Told of each committed round's new live alerts: alert id -> when the read
# that raised it was stored (epoch seconds), for the webhook latency.
OnRaised = Callable[[dict[int, float]], None]


def _ignore(_: dict[int, float]) -> None:
    return None


@dataclass
class Matcher:
    settings: AlertSettings
    on_raised: OnRaised = _ignore
    follower: Follower = field(default_factory=lambda: Follower(FOLLOWER))
    lists: MemoryLists = field(default_factory=MemoryLists)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set while the last round found nothing to take: backfills may work.
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        """Match until `stop` is set; an outage pauses and resumes."""
        delay = 0.2
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.2
            except StorageError as exc:
                metrics.PAUSED.set(1)
                metrics.ACTIVE.set(0)
                log.warning("alert matcher paused, database unavailable: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def _session(self, stop: asyncio.Event) -> None:
        try:
            conn = await asyncpg.connect(
                self.settings.dsn(),
                timeout=self.settings.db_connect_timeout_s,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        try:
            await self._serve(conn, stop)
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    async def _serve(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> None:
        metrics.PAUSED.set(0)
        if not await self._lock(conn, stop):
            return
        metrics.ACTIVE.set(1)
        log.info("alert matcher active")
        for channel in CHANNELS:
            await conn.add_listener(channel, self._notified)
        await self.follower.start(conn)
        # Lists still held from before a reconnect are kept unless their revision moved.
        await self.lists.refresh(conn)
        backfills = asyncio.create_task(self._backfills(stop), name="alpr-alerts-backfill")
        try:
            await self._rounds(conn, stop)
        finally:
            backfills.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backfills

    async def _rounds(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self.round_once(conn):
                self._idle.clear()
                continue
            self._idle.set()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                [waiter, stopper],
                timeout=self.settings.alert_poll_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            stopper.cancel()
            self._wake.clear()
            if conn.is_closed():
                raise StorageError("matcher connection closed")

    async def _lock(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> bool:
        """Wait for the matcher lock; False when stopped first."""
        query = load_queries("matcher")["try_lock"]
        waited = False
        while not stop.is_set():
            if await conn.fetchval(*query.bind(lock_key=LOCK_KEY)):
                return True
            if not waited:
                log.info("another alert matcher is active; waiting for it")
                waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False

    def _notified(self, *_: Any) -> None:
        self._idle.clear()
        self._wake.set()

    async def round_once(self, conn: asyncpg.Connection[Any]) -> int:
        """Handle the next batches in one transaction; returns how many."""
        started = time.monotonic()
        take = await self.follower.take(conn, self.settings.alert_batches_per_round)
        if not take.batches:
            if take.watermark != self.follower.watermark:
                await self.follower.save(conn, take.watermark)
                self.follower.advanced(take)
            return 0
        # After the take: every entry committed before those batches is seen.
        await self.lists.refresh(conn)
        async with conn.transaction():
            await backfill.lock_records(conn)
            reads, hits = await self._match(conn, take)
            recorded = await record(conn, hits, self.settings.alert_pass_window_s, False)
            if recorded.raised:
                await conn.fetchrow(
                    *load_queries("matcher")["enqueue_alerts"].bind(alert_ids=list(recorded.raised))
                )
            await self.follower.save(conn, take.watermark)
        committed = time.time()
        self.follower.advanced(take)
        self._count(take, reads, recorded.hits, recorded.raised, committed)
        metrics.ROUND_SECONDS.observe(time.monotonic() - started)
        return len(take.batches)

    async def _match(self, conn: asyncpg.Connection[Any], take: Take) -> tuple[int, list[Hit]]:
        stored_at: dict[Any, float] = {}
        event_ids, captured_ats = [], []
        for batch in take.batches:
            stamp = batch.stored_at.timestamp()
            for event_id, captured_at in zip(batch.event_ids, batch.captured_ats, strict=True):
                stored_at[event_id] = stamp
                event_ids.append(event_id)
                captured_ats.append(captured_at)
        rows = await conn.fetch(
            *load_queries("matcher")["reads_with_exact_hits"].bind(
                event_ids=event_ids, captured_ats=captured_ats
            )
        )
        hits: list[Hit] = []
        reads: dict[Any, Read] = {}
        for row in rows:
            read = reads.get(row["event_id"])
            if read is None:
                read = reads[row["event_id"]] = Read.from_row(row, stored_at[row["event_id"]])
                hits += self.lists.match(read)
                if not len(reads) % YIELD_EVERY:
                    await asyncio.sleep(0)
            if row["entry_id"] is not None:
                hits.append(_exact_hit(row, read))
        return len(reads), hits

    def _count(
        self, take: Take, reads: int, hits: int, raised: dict[int, Hit], committed: float
    ) -> None:
        metrics.BATCHES.inc(len(take.batches))
        metrics.READS_CHECKED.inc(reads)
        metrics.HITS.labels("stream").inc(hits)
        metrics.ALERTS_RAISED.labels("stream").inc(len(raised))
        for hit in raised.values():
            if hit.read.stored_at:
                metrics.ALERT_SECONDS.observe(max(0.0, committed - hit.read.stored_at))
        if raised:
            self.on_raised({a: h.read.stored_at for a, h in raised.items()})

    async def _backfills(self, stop: asyncio.Event) -> None:
        """Run pending backfills on a connection of their own until stopped;
        an outage of that connection pauses them, not the rounds."""
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(
                    self.settings.dsn(),
                    timeout=self.settings.db_connect_timeout_s,
                    server_settings={"application_name": f"{APPLICATION_NAME}-backfill"},
                )
                try:
                    await self._backfill_until(conn, stop)
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=1)
            except (*DRIVER_ERRORS, StorageError) as exc:
                log.warning("backfill paused, database unavailable: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.alert_poll_interval_s)

    async def _backfill_until(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> None:
        while not stop.is_set():
            done = await backfill.run_next(conn, self.settings, self._live_first)
            if done is not None:
                if done.raised:
                    self.on_raised({})
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.alert_poll_interval_s)

    async def _live_first(self) -> None:
        """Wait until the live matcher is idle, at most PAUSE_MAX_S."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), PAUSE_MAX_S)


def _exact_hit(row: Any, read: Read) -> Hit:
    return Hit(
        row["entry_id"],
        row["hotlist_id"],
        row["priority"],
        read,
        region_mismatch=region_mismatch(row["entry_region"], read.region),
    )
