"""Live reads: one LISTEN per gateway, fanned out to bounded per-subscriber queues.

The ingestor commits a batch of reads together with a `stored_batches` row
and sends `NOTIFY alpr_stored`. Here one dedicated connection (to the
primary: notifications are not replicated) listens, reads every batch after
the last one it handled, fetches the batch's reads once when anyone is
subscribed, and offers each read to every matching subscriber.

Work that does not depend on who listens is done once per read, not once per
subscriber: the nested `camera`/`plate` objects any subscriber asked for are
loaded once per batch, and subscribers that share a renderer (the websocket
transport gives one to every subscription with the same document and
variables, see `gateway.websocket`) get the read rendered once, in that
renderer's form, instead of the read itself.

A subscriber's queue is bounded (`buffer` reads, or one batch when it was
empty): when a subscriber that is behind would overflow it, it is told
(`Overflow` is queued in place of its backlog) and dropped, and nobody else
waits. After a lost connection the feed reconnects and catches up from the
last batch id it handled, so a blip loses nothing that is still in
`stored_batches`. A periodic poll covers a notification that never came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg

from core.db import translated
from gateway import queries
from gateway.metrics import (
    LIVE_BATCHES,
    LIVE_DELIVERED,
    LIVE_DROPPED,
    LIVE_RENDERED,
    SUBSCRIBERS,
)
from gateway.reader import DbReader
from schema.errors import StorageError
from schema.filters import EventQuery
from schema.graphql.selection import NO_NESTED
from schema.graphql.types import Event

log = logging.getLogger(__name__)

CHANNEL: Final = "alpr_stored"
# Names the listener in pg_stat_activity, for operators (and tests).
APPLICATION_NAME: Final = "alpr-gateway-live"
BATCHES_PER_ROUND: Final = 100
# How long a batch may wait for its nested camera/plate objects.
NESTED_TIMEOUT_S: Final = 2.0


@translated
async def _connect(dsn: str) -> asyncpg.Connection[Any]:
    return await asyncpg.connect(
        dsn, timeout=5, server_settings={"application_name": APPLICATION_NAME}
    )


class Overflow:
    """Queued in place of a slow subscriber's backlog: it is being dropped."""


OVERFLOW: Final = Overflow()


# Turns a read into what a subscriber's queue carries (e.g. a serialized
# GraphQL result); subscribers holding the same renderer share each result.
Render = Callable[[Event], object]


@dataclass(eq=False)
class Subscriber:
    """One subscription: its filter, the nested objects it wants, its bounded queue.

    The queue carries reads (`Event`), or what `render` made of them when the
    subscriber has one.
    """

    query: EventQuery
    queue: asyncio.Queue[object]
    nested: frozenset[str] = NO_NESTED
    render: Render | None = None
    dropped: bool = False

    def matches(self, event: Event) -> bool:
        q = self.query
        return (
            (q.plate is None or q.plate == event.plate_normalized)
            and (q.camera_id is None or q.camera_id == event.camera_id)
            and (q.site_id is None or q.site_id == event.site_id)
            and (q.min_confidence is None or event.plate_confidence >= q.min_confidence)
        )


@dataclass
class LiveFeed:
    """The gateway's single listener and its subscribers."""

    dsn: str
    buffer: int = 1000
    # Where nested camera/plate objects are loaded from (the read pool).
    db: queries.Db | None = None
    poll_interval_s: float = 2.0
    reconnect_delay_s: float = 0.5
    subscribers: set[Subscriber] = field(default_factory=set)
    last_batch: int | None = None
    connected: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alpr-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(
        self, query: EventQuery, nested: frozenset[str] = NO_NESTED, render: Render | None = None
    ) -> Subscriber:
        # Unbounded as a queue; `publish` bounds it to buffer + one batch.
        subscriber = Subscriber(query, asyncio.Queue(), nested, render)
        self.subscribers.add(subscriber)
        SUBSCRIBERS.set(len(self.subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        SUBSCRIBERS.set(len(self.subscribers))

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (StorageError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live feed lost its connection, reconnecting: %s", exc)
            self.connected = False
            await asyncio.sleep(self.reconnect_delay_s)

    async def _listen(self) -> None:
        conn = await _connect(self.dsn)
        try:
            if self.last_batch is None:
                # Live means from now on: history is what queries are for.
                self.last_batch = await queries.latest_batch(conn)
            await conn.add_listener(CHANNEL, self._notified)
            self.connected = True
            while True:
                await self._drain(conn)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                self._wake.clear()
                if conn.is_closed():
                    raise StorageError("listener connection closed")
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _drain(self, conn: asyncpg.Connection[Any]) -> None:
        """Handle every batch after the last one, in batch order."""
        while True:
            assert self.last_batch is not None
            batches = await queries.batches_after(conn, self.last_batch, BATCHES_PER_ROUND)
            for batch in batches:
                if self.subscribers:
                    rows = await queries.fetch_events_by_keys(
                        conn, batch["event_ids"], batch["captured_ats"]
                    )
                    events = [Event.from_row(row) for row in rows]
                    await self._attach_nested(events)
                    self.publish(events)
                self.last_batch = batch["batch_id"]
                LIVE_BATCHES.inc()
                await asyncio.sleep(0)  # let subscribers send between batches
            if len(batches) < BATCHES_PER_ROUND:
                return

    async def _attach_nested(self, events: list[Event]) -> None:
        """Set the camera/plate objects any subscriber selects, once for the batch.

        The reads are shared by every subscriber: a read that carries an object
        nobody of a subscription asked for is harmless, GraphQL sends only what
        was selected. When the read pool fails or is slow the reads go out
        without them (null): the feed must not stall for everyone, most of
        whom asked for no nested object.
        """
        nested = frozenset[str]().union(*(s.nested for s in self.subscribers))
        if not nested or self.db is None:
            return
        try:
            async with asyncio.timeout(NESTED_TIMEOUT_S):
                await DbReader(self.db, cache=False).attach(events, nested)
        except (StorageError, TimeoutError) as exc:
            log.warning("live reads go out without camera/plate objects: %s", exc)

    def publish(self, events: list[Event]) -> None:
        """Offer one batch (in capture order) to every matching subscriber; never wait.

        A subscriber with nothing queued takes a whole batch, however large:
        a burst is not slowness. One that still holds reads and would exceed
        its buffer is dropped. Each read is rendered once per renderer.
        """
        # Most live filters name a camera: look only at that camera's reads.
        by_camera: dict[str, list[Event]] = {}
        for event in events:
            by_camera.setdefault(event.camera_id, []).append(event)
        rendered: dict[tuple[Render, int], object] = {}
        for subscriber in list(self.subscribers):
            camera = subscriber.query.camera_id
            candidates = events if camera is None else by_camera.get(camera, [])
            matched = [event for event in candidates if subscriber.matches(event)]
            if not matched:
                continue
            backlog = subscriber.queue.qsize()
            if backlog and backlog + len(matched) > self.buffer:
                self._drop(subscriber)
                continue
            render = subscriber.render
            for event in matched:
                if render is None:
                    subscriber.queue.put_nowait(event)
                    continue
                # The batch holds each read until publish returns: its id is its key.
                key = (render, id(event))
                item = rendered.get(key)
                if item is None:
                    item = rendered[key] = render(event)
                    LIVE_RENDERED.inc()
                subscriber.queue.put_nowait(item)
            LIVE_DELIVERED.inc(len(matched))

    def _drop(self, subscriber: Subscriber) -> None:
        # Throw the backlog away so the overflow notice is next in line.
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(OVERFLOW)
        subscriber.dropped = True
        self.unsubscribe(subscriber)
        LIVE_DROPPED.inc()
        log.warning("dropped a live subscriber whose buffer of %d overflowed", self.buffer)
