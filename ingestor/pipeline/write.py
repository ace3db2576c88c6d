"""The writing step: store a batch, deliver its dead letters, commit it in read order.

Each batch handed to `Write` runs as one task: the source's `Writer` stores
its events in one transaction (`store`; rows the database refuses become
dead letters tied to their message), its dead letters are delivered and
acknowledged, and once every batch read before it is committed, it is
committed too (the source's acknowledgement: Kafka offsets, a file's
checkpoint, the HTTP answer's counts). Up to `writers` batches are in
flight at once; with more, `submit` refuses: back-pressure. A source whose
commit carries the dead letters itself (Kafka: letters and offsets in one
transaction) passes no `deliver`.

With a `Backoff`, transient outages of the store, the delivery and the
commit are retried (see `retry.py`; a commit retried must learn itself what
became of the failed attempt); a batch whose retries are given up is not
committed, nor is any batch submitted after it until the source has taken
them back (`take_dropped`, to read them again): a later batch's offsets
would jump over the given-up one, and with them the dead letters only its
commit carries. That holds for a batch submitted after the given-up one has
already finished, too: the chain runs through the last batch submitted, not
only through the ones still in flight.
Without one, a transient failure fails the step like any other error: the
HTTP source answers 503, a file import stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import asyncpg

from core.db import DRIVER_ERRORS, translate
from ingestor import metrics
from ingestor.pipeline.batch import Batch
from ingestor.pipeline.message import DeadLetter
from ingestor.pipeline.retry import Backoff, GaveUp
from ingestor.pipeline.step import MessageRejected
from ingestor.writer import Connection, Writer, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    """A batch after its write: the result, every dead letter, the seconds from the
    start of its write to its commit (the commit itself not included)."""

    batch: Batch
    result: WriteResult
    dead: list[DeadLetter]
    seconds: float = 0.0


Store = Callable[[Batch], Awaitable[Written]]
Commit = Callable[[Written], Awaitable[None]]


class Deliver(Protocol):
    """Where a batch's dead letters go; returns once they are safely there."""

    async def __call__(self, letters: Sequence[DeadLetter]) -> None: ...


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool[Any]) -> AsyncIterator[Connection]:
    """A pooled connection; failing to get one is `StorageUnavailable`, not a crash."""
    try:
        conn = await pool.acquire()
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            # A connection that died mid-write is closed by the pool here.
            await pool.release(conn)


async def store(pool: asyncpg.Pool[Any], writer: Writer, batch: Batch) -> Written:
    """Write `batch`'s events; the result and all its dead letters, decoding's first."""
    result = WriteResult()
    dead = list(batch.dead)
    if batch.events:
        async with connection(pool) as conn:
            result = await writer.write_isolating(conn, batch.events)
        dead += [DeadLetter(batch.message_of(r.event), r.code, r.reason) for r in result.rejected]
    return Written(batch, result, dead)


class Write:
    """The writing step (see the module docstring); `source` labels its metrics."""

    def __init__(
        self,
        store: Store,
        deliver: Deliver | None,
        commit: Commit,
        stats: metrics.Stats,
        source: str,
        *,
        writers: int = 1,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.commit = commit
        self.stats = stats
        self.source = source
        self.writers = writers
        self.backoff = backoff
        self._inflight: deque[tuple[Batch, asyncio.Task[bool]]] = deque()
        self._dropped: list[Batch] = []
        # The last batch submitted since the source last took the dropped
        # ones: each batch commits only after it (see the module docstring).
        self._last: asyncio.Task[bool] | None = None

    def submit(self, batch: Batch) -> None:
        self.poll()
        if len(self._inflight) >= self.writers:
            raise MessageRejected(self._inflight[0][1])
        task = asyncio.create_task(self._run(batch, self._last))
        self._inflight.append((batch, task))
        self._last = task

    def poll(self) -> None:
        while self._inflight and self._inflight[0][1].done():
            batch, task = self._inflight[0]
            if not task.cancelled():
                error = task.exception()
                if error is not None:
                    raise error  # left first: every later poll raises it again
            self._inflight.popleft()
            if task.cancelled() or not task.result():
                self._dropped.append(batch)

    async def join(self) -> None:
        if self._inflight:
            await asyncio.wait([task for _, task in self._inflight])
        self.poll()

    def take_dropped(self) -> list[Batch]:
        """The batches given up (not committed) since the last call, in read order.

        The caller reads them again from their first offsets; batches
        submitted from then on may commit. Call it only with nothing in
        flight (after `join`): a batch still in flight keeps the chain.
        """
        dropped, self._dropped = self._dropped, []
        if not self._inflight:
            self._last = None
        return dropped

    def cancel(self) -> None:
        """Abandon the writes in flight (after a failure): none of them commits."""
        for _, task in self._inflight:
            task.cancel()

    async def _run(self, batch: Batch, previous: asyncio.Task[bool] | None) -> bool:
        """Store, deliver and, after the batch before it, commit; False if given up."""
        started = time.monotonic()
        try:
            written = await self._attempt(lambda: self.store(batch))
            if self.deliver is not None:
                deliver = self.deliver
                await self._attempt(lambda: deliver(written.dead))
            if previous is not None and not await _committed(previous):
                # Stored, but an earlier batch was not committed: committing
                # this one's offsets would jump over it.
                return False
            written = replace(written, seconds=time.monotonic() - started)
            await self._attempt(lambda: self.commit(written))
        except GaveUp as exc:
            log.warning("batch not committed (%s); it will be read again", exc)
            return False
        result = written.result
        self.stats.record_batch(
            self.source, result.stored, result.duplicates, time.monotonic() - started
        )
        for code, count in Counter(letter.code for letter in written.dead).items():
            self.stats.record_dead(self.source, code, count)
        return True

    async def _attempt(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self.backoff is None:
            return await operation()
        return await self.backoff.call(operation)


async def _committed(task: asyncio.Task[bool]) -> bool:
    """Whether `task` (once done) committed its batch; a failure or cancellation did not."""
    await asyncio.wait([task])
    return not task.cancelled() and task.exception() is None and task.result()
