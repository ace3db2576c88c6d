"""The Kafka source: consume, batch, store, dead-letter, then commit.

The loop is: `getmany` → decode each record → add to the batch → when the
batch is due, hand it to a writer: store (one transaction), send its dead
letters and wait for the broker's acks, commit the next offset of every
partition the batch covered. Up to `ingest_writers` batches are written at
once while the next is read; their commits are made in the order they were
read. Offsets are committed only for messages that are stored or
dead-lettered, so a crash at any point re-reads, and the idempotent writer
turns the re-read into duplicates, never into double rows.

Failure behaviour:
- Database or broker unreachable while flushing: all assigned partitions are
  paused (the group membership stays, the poll loop keeps running) and the
  flush is retried with capped exponential backoff until it succeeds; then
  fetching resumes.
- Partitions about to be revoked: the batch in hand is flushed and committed
  first. If that cannot succeed now (an outage), it is dropped uncommitted:
  whoever gets the partitions re-reads it.
- Stop requested: the batch in hand is flushed, offsets committed, the group
  left. During an outage the batch is given up (uncommitted) so the process
  can exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.batch import Batch
from ingestor.deadletter import send_dead_letters
from ingestor.messages import Message, decode
from ingestor.store import store
from ingestor.writer import Writer
from schema.errors import BrokerUnavailable, StorageUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE = "kafka"
_TRANSIENT = (StorageUnavailable, BrokerUnavailable)
# How long a flush before revocation may keep retrying an outage.
REVOKE_GRACE_S = 10.0
# Batches written at once come from settings.ingest_writers (default 2: one
# batch inserting while the other updates rollups); commits stay in order.


class _GaveUp(Exception):
    """A flush abandoned because the partitions are going or the process is stopping.

    Control flow inside this module only: it never leaves `_write`.
    """


class _StopWhen(stop_base):
    """Stop retrying once `condition()` holds (after at least one attempt)."""

    def __init__(self, condition: Callable[[], bool]) -> None:
        self.condition = condition

    def __call__(self, retry_state: Any) -> bool:
        return self.condition()


def to_message(record: ConsumerRecord[bytes, bytes]) -> Message:
    return Message(
        value=record.value,
        key=record.key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
    )


async def _broker_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except KafkaError as exc:
        raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc


class KafkaSource:
    """Consumes `settings.kafka_topic` in `settings.kafka_group_id` into the database."""

    def __init__(
        self,
        settings: IngestorSettings,
        pool: asyncpg.Pool[Any],
        stats: metrics.Stats,
        max_backoff_s: float = 5.0,
        writers: int | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.stats = stats
        self.max_backoff_s = max_backoff_s
        self.writers = writers or settings.ingest_writers
        self.batch = Batch(settings.batch_size, settings.batch_max_age_ms / 1000)
        self.writer = Writer()
        self._naive_tz = settings.naive_tz()
        self._revoking = False
        self._stop = asyncio.Event()
        self._inflight: deque[tuple[asyncio.Task[None], Batch]] = deque()
        self._epoch = 0  # moves on when a write is given up; see _write
        self._main_waiting = False
        self._polling = False
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.kafka_auto_offset_reset,
            max_poll_records=settings.batch_size,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then flush, commit and leave the group."""
        self._stop = stop
        self.consumer.subscribe([self.settings.kafka_topic], listener=_Rebalance(self))
        if not await self._start_clients():
            await self.producer.stop()
            await self.consumer.stop()
            return
        log.info(
            "kafka source consuming %s as %s",
            self.settings.kafka_topic,
            self.settings.kafka_group_id,
        )
        try:
            while not stop.is_set():
                await self._poll_once()
            await self.flush()
        finally:
            for task, _ in self._inflight:
                task.cancel()  # only after a failure: nothing of it is committed
            await self.consumer.stop()  # leaves the group
            await self.producer.stop()
            log.info("kafka source stopped")

    async def _start_clients(self) -> bool:
        """Start producer and consumer, waiting for the broker; False if stopped first."""
        for client in (self.producer, self.consumer):
            try:
                async for attempt in self._retrying(stop_when=self._stop.is_set):
                    with attempt:
                        await _broker_call(client.start())
            except BrokerUnavailable:
                if self._stop.is_set():
                    return False
                raise
        return True

    async def _poll_once(self) -> None:
        timeout_ms = max(int(self.batch.age_left_s() * 1000), 1)
        records = await self.consumer.getmany(
            timeout_ms=min(timeout_ms, 500), max_records=max(self.batch.room, 1)
        )
        self._add(records)
        if self.batch.due():
            await self._hand_over()

    async def _hand_over(self) -> None:
        """Start writing the batch in hand; at most `writers` batches are written at once.

        While batches are written, the next one is fetched and decoded, and
        with two writers the database works on two batches at a time (one
        inserting while the other updates the rollups). Offsets are still
        committed in the order the batches were read: each write waits for
        the one before it to finish before it commits.
        """
        while len(self._inflight) >= self.writers:
            await self._wait_oldest()
        self._start_write(during_revoke=False)

    def _start_write(self, *, during_revoke: bool) -> asyncio.Task[None]:
        batch, self.batch = self.batch, self.batch.fresh()
        previous = self._inflight[-1][0] if self._inflight else None
        task = asyncio.create_task(self._write(batch, previous, self._epoch, during_revoke))
        self._inflight.append((task, batch))
        return task

    async def _wait_oldest(self) -> None:
        task = self._inflight[0][0]
        self._main_waiting = True
        try:
            await task  # a non-transient failure ends the source here
        finally:
            self._main_waiting = False
            if self._inflight and self._inflight[0][0] is task:
                self._inflight.popleft()

    async def flush(self, *, during_revoke: bool = False) -> None:
        """Write the batch in hand now, after the writes in flight, and commit it."""
        task = self._start_write(during_revoke=during_revoke)
        if during_revoke:  # the listener waits; errors are the main loop's to raise
            await asyncio.wait([task])
            return
        while self._inflight:
            await self._wait_oldest()

    async def _write(
        self, batch: Batch, previous: asyncio.Task[None] | None, epoch: int, during_revoke: bool
    ) -> None:
        try:
            await self._store_and_commit(batch, previous, epoch, during_revoke)
        except _GaveUp as exc:
            # Not stored, not committed. Nothing read after it may be committed
            # either, or the offsets would jump over it: every later batch is
            # dropped too (the epoch tells writes in flight) and the consumer
            # seeks back to the first message of the lot.
            self._epoch += 1
            later = [b for t, b in self._inflight if b is not batch]
            abandoned, self.batch = self.batch, self.batch.fresh()
            self._rewind([batch, *later, abandoned])
            log.warning("batch not stored (%s); it will be read again", exc)

    async def _store_and_commit(
        self, batch: Batch, previous: asyncio.Task[None] | None, epoch: int, during_revoke: bool
    ) -> None:
        """Store the batch, send its dead letters, then commit its offsets in turn."""
        if not len(batch):
            if previous is not None:
                await asyncio.wait([previous])
            return
        started = time.monotonic()

        def give_up() -> bool:
            if during_revoke:  # the group is waiting for us: not forever
                return time.monotonic() - started > REVOKE_GRACE_S
            return self._stop.is_set() or self._revoking or epoch != self._epoch

        stored = await self._retry(lambda: store(self.pool, self.writer, batch), give_up)
        await self._retry(
            lambda: _broker_call(
                send_dead_letters(self.producer, self.settings.dlq_topic, stored.dead)
            ),
            give_up,
        )
        if previous is not None:
            await asyncio.wait([previous])
        seconds = time.monotonic() - started
        self.stats.record_batch(SOURCE, stored.result.stored, stored.result.duplicates, seconds)
        if epoch != self._epoch:
            # An earlier batch was given up and this one rewound with it: it is
            # stored, but its offsets must wait for that one's to be committed.
            return
        await self._commit(batch.next_offsets)
        self._resume()
        for letter in stored.dead:
            self.stats.record_dead(SOURCE, letter.code)
        self._update_lag(batch.next_offsets)
        # One line per batch at INFO for operators: counts and time, no plate text.
        log.info(
            "batch stored=%d duplicates=%d dead_lettered=%d seconds=%.3f",
            stored.result.stored,
            stored.result.duplicates,
            len(stored.dead),
            seconds,
        )

    def _rewind(self, batches: list[Batch]) -> None:
        """Seek back to the first unstored message of each partition still ours."""
        firsts: dict[tuple[str, int], int] = {}
        for batch in batches:
            for partition, offset in batch.first_offsets.items():
                firsts[partition] = min(offset, firsts.get(partition, offset))
        assigned = self.consumer.assignment()
        for (topic, part), offset in firsts.items():
            tp = TopicPartition(topic, part)
            if tp in assigned:
                with contextlib.suppress(Exception):  # a partition going away: no matter
                    self.consumer.seek(tp, offset)

    def _retrying(
        self, stop_when: Callable[[], bool], retry_on: tuple[type[Exception], ...] = _TRANSIENT
    ) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(retry_on),
            wait=wait_exponential_jitter(multiplier=0.1, max=self.max_backoff_s, jitter=0.1),
            stop=_StopWhen(stop_when),
            sleep=self._paused_sleep,
            before_sleep=self._on_retry,
            reraise=True,
        )

    async def _retry(self, op: Callable[[], Awaitable[T]], give_up: Callable[[], bool]) -> T:
        try:
            async for attempt in self._retrying(stop_when=give_up):
                with attempt:
                    return await op()
        except _TRANSIENT as exc:
            raise _GaveUp(str(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _on_retry(self, retry_state: Any) -> None:
        metrics.STORAGE_RETRIES.inc()
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning("storage or broker unavailable, retrying: %s", error)
        self._pause()

    async def _paused_sleep(self, seconds: float) -> None:
        # Polling paused partitions returns nothing but tells the group we are
        # alive (max.poll.interval), so an outage does not cost the assignment.
        if self._revoking or not self._main_waiting or self._polling:
            # Starting up, in the rebalance listener, the main loop polling by
            # itself, or another write polling: getmany must not run twice at once.
            await asyncio.sleep(seconds)
            return
        self._polling = True
        try:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0 and not (
                self._stop.is_set() or self._revoking
            ):
                self._pause()  # a rebalance may have brought new, unpaused partitions
                records = await self.consumer.getmany(timeout_ms=max(int(min(left, 0.5) * 1000), 1))
                # Whatever came anyway is kept, never skipped: it goes in the next batch.
                self._add(records)
        finally:
            self._polling = False

    def _add(self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> int:
        count = 0
        for partition_records in records.values():
            for record in partition_records:
                message = to_message(record)
                self.batch.add(message, decode(message, self._naive_tz))
            count += len(partition_records)
        if count:
            self.stats.record_consumed(SOURCE, count)
        return count

    def _pause(self) -> None:
        assigned = self.consumer.assignment()
        if assigned:
            self.consumer.pause(*assigned)
            metrics.PAUSED.set(1)

    def _resume(self) -> None:
        paused = self.consumer.paused()
        if paused:
            self.consumer.resume(*paused)
            metrics.PAUSED.set(0)
            log.info("storage back: fetching resumed")

    async def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if not offsets:
            return
        try:
            await self.consumer.commit(
                {TopicPartition(topic, part): offset for (topic, part), offset in offsets.items()}
            )
        except (CommitFailedError, KafkaError) as exc:
            # The batch is stored; whoever owns the partitions now re-reads it
            # and finds duplicates. Nothing is lost, nothing doubled.
            log.warning("offset commit failed (%s); the batch will be re-read", exc)

    def _update_lag(self, offsets: dict[tuple[str, int], int]) -> None:
        for (topic, part), offset in offsets.items():
            end = self.consumer.highwater(TopicPartition(topic, part))
            if end is not None:
                metrics.set_lag(topic, part, end - offset)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Flush and commit before partitions go; a new assignment starts unpaused."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        source = self.source
        source._revoking = True
        try:
            await source.flush(during_revoke=True)
        finally:
            source._revoking = False

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        metrics.PAUSED.set(0)
        log.info("assigned %d partitions", len(assigned))
