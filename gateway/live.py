"""The live feed: one LISTEN per gateway, fanned out to bounded per-subscriber queues.

The ingestor commits a batch of reads together with a `stored_batches` row
and sends `NOTIFY alpr_stored`; the matcher commits a round of alerts and
sends `NOTIFY alpr_alerts`. Here one dedicated connection (to the primary:
notifications are not replicated) listens on both. It reads every batch
after the last one it handled, fetches the batch's reads once when anyone is
subscribed, and offers each read to every matching subscriber; it reads every
live alert after the last one it handled (historical alerts, the past hits
of a new entry, go out as webhook digests, not live) and offers each to the
alert subscribers. A read joining an open alert raises nothing, so it is not
sent again: `alertRaised` is one message per vehicle pass.

Work that does not depend on who listens is done once per item, not once per
subscriber: the nested `camera`/`plate` objects any subscriber asked for are
loaded once per batch, and subscribers that share a renderer (the websocket
transport gives one to every subscription with the same document and
variables, see `gateway.websocket`) get the item rendered once, in that
renderer's form, instead of the item itself.

A subscriber's queue is bounded (`buffer` items, or one round when it was
empty): when a subscriber that is behind would overflow it, it is told
(`Overflow` is queued in place of its backlog) and dropped, and nobody else
waits. After a lost connection the feed reconnects and catches up from the
last batch and alert it handled, so a blip loses nothing that is still
stored. A periodic poll covers a notification that never came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import asyncpg
from prometheus_client import Counter

from core import alerts
from core.db import translated
from gateway import queries
from gateway.alerting import alert_type
from gateway.metrics import (
    LIVE_ALERTS_DELIVERED,
    LIVE_BATCHES,
    LIVE_DELIVERED,
    LIVE_DROPPED,
    LIVE_RENDERED,
    SUBSCRIBERS,
)
from gateway.reader import DbReader
from schema.errors import StorageError
from schema.filters import EventQuery
from schema.graphql.alerting import Alert
from schema.graphql.selection import NO_NESTED
from schema.graphql.types import Event

log = logging.getLogger(__name__)

# Batches of stored reads (the ingestor), alerts raised (the matcher).
CHANNELS: Final = ("alpr_stored", "alpr_alerts")
# Names the listener in pg_stat_activity, for operators (and tests).
APPLICATION_NAME: Final = "alpr-gateway-live"
BATCHES_PER_ROUND: Final = 100
ALERTS_PER_ROUND: Final = 500
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


# Turns an item (a read, an alert) into what a subscriber's queue carries
# (e.g. a serialized GraphQL result); subscribers holding the same renderer
# share each result.
Render = Callable[[Any], object]


class Item(Protocol):
    """What a live feed carries: reads and alerts, both of a camera."""

    @property
    def camera_id(self) -> str: ...


@dataclass(eq=False)
class Subscriber:
    """One subscription: which items it wants, the nested objects it wants,
    its bounded queue.

    `camera_id`, when the filter names one camera, lets the feed look only at
    that camera's items. The queue carries items, or what `render` made of
    them when the subscriber has one.
    """

    wants: Callable[[Any], bool]
    camera_id: str | None
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    nested: frozenset[str] = NO_NESTED
    render: Render | None = None
    dropped: bool = False


def wants_read(query: EventQuery) -> Callable[[Event], bool]:
    """Whether a read matches a live read filter."""

    def wants(event: Event) -> bool:
        return (
            (query.plate is None or query.plate == event.plate_normalized)
            and (query.site_id is None or query.site_id == event.site_id)
            and (query.min_confidence is None or event.plate_confidence >= query.min_confidence)
        )

    return wants


@dataclass
class Fanout:
    """The subscribers of one kind of item, and how an item reaches them."""

    buffer: int
    delivered: Counter
    subscribers: set[Subscriber] = field(default_factory=set)

    def add(self, subscriber: Subscriber) -> Subscriber:
        self.subscribers.add(subscriber)
        SUBSCRIBERS.inc()
        return subscriber

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            SUBSCRIBERS.dec()

    def publish(self, items: Sequence[Item]) -> None:
        """Offer items (in order) to every matching subscriber; never wait.

        A subscriber with nothing queued takes them all, however many: a burst
        is not slowness. One that still holds items and would exceed its
        buffer is dropped. Each item is rendered once per renderer.
        """
        # Most live filters name a camera: look only at that camera's items.
        by_camera: dict[str, list[Item]] = {}
        for item in items:
            by_camera.setdefault(item.camera_id, []).append(item)
        rendered: dict[tuple[Render, int], object] = {}
        for subscriber in list(self.subscribers):
            camera = subscriber.camera_id
            candidates = items if camera is None else by_camera.get(camera, [])
            matched = [item for item in candidates if subscriber.wants(item)]
            if not matched:
                continue
            backlog = subscriber.queue.qsize()
            if backlog and backlog + len(matched) > self.buffer:
                self._drop(subscriber)
                continue
            render = subscriber.render
            for item in matched:
                if render is None:
                    subscriber.queue.put_nowait(item)
                    continue
                # The caller holds each item until publish returns: its id is its key.
                key = (render, id(item))
                out = rendered.get(key)
                if out is None:
                    out = rendered[key] = render(item)
                    LIVE_RENDERED.inc()
                subscriber.queue.put_nowait(out)
            self.delivered.inc(len(matched))

    def _drop(self, subscriber: Subscriber) -> None:
        # Throw the backlog away so the overflow notice is next in line.
        while not subscriber.queue.empty():
            subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(OVERFLOW)
        subscriber.dropped = True
        self.remove(subscriber)
        LIVE_DROPPED.inc()
        log.warning("dropped a live subscriber whose buffer of %d overflowed", self.buffer)


@dataclass
class LiveFeed:
    """The gateway's single listener: stored reads and raised alerts, and
    their subscribers."""

    dsn: str
    buffer: int = 1000
    # Where nested camera/plate objects are loaded from (the read pool).
    db: queries.Db | None = None
    poll_interval_s: float = 2.0
    reconnect_delay_s: float = 0.5
    last_batch: int | None = None
    last_alert: int | None = None
    connected: bool = False
    reads: Fanout = field(init=False)
    alerts: Fanout = field(init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.reads = Fanout(self.buffer, LIVE_DELIVERED)
        self.alerts = Fanout(self.buffer, LIVE_ALERTS_DELIVERED)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alpr-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def subscribers(self) -> set[Subscriber]:
        """The subscribers of reads."""
        return self.reads.subscribers

    def subscribe(
        self, query: EventQuery, nested: frozenset[str] = NO_NESTED, render: Render | None = None
    ) -> Subscriber:
        """A subscriber of the stored reads `query` matches. Unbounded as a
        queue: `publish` bounds it to buffer + one batch."""
        wants = wants_read(query)
        camera = query.camera_id
        return self.reads.add(Subscriber(wants, camera, nested=nested, render=render))

    def subscribe_alerts(
        self, wants: Callable[[Alert], bool], camera_id: str | None, render: Render | None = None
    ) -> Subscriber:
        """A subscriber of the live alerts `wants` takes (of `camera_id` only, if given)."""
        return self.alerts.add(Subscriber(wants, camera_id, render=render))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.reads.remove(subscriber)
        self.alerts.remove(subscriber)

    def publish(self, events: list[Event]) -> None:
        """Offer one batch of reads (in capture order) to their subscribers."""
        self.reads.publish(events)

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
            # Live means from now on: history is what queries are for.
            if self.last_batch is None:
                self.last_batch = await queries.latest_batch(conn)
            if self.last_alert is None:
                self.last_alert = await alerts.latest_alert_id(conn)
            for channel in CHANNELS:
                await conn.add_listener(channel, self._notified)
            self.connected = True
            while True:
                await self._drain(conn)
                await self._drain_alerts(conn)
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

    async def _drain_alerts(self, conn: asyncpg.Connection[Any]) -> None:
        """Offer every live alert raised after the last one to its subscribers."""
        while True:
            assert self.last_alert is not None
            found, self.last_alert = await alerts.raised_after(
                conn, self.last_alert, ALERTS_PER_ROUND
            )
            if found and self.alerts.subscribers:
                self.alerts.publish([alert_type(a) for a in found])
            if len(found) < ALERTS_PER_ROUND:
                return
            await asyncio.sleep(0)
