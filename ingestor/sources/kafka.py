"""The Kafka source: consume, feed the pipeline, commit offsets in read order.

The loop is: `getmany` → the pipeline (decode → batch → write → commit; see
`ingestor.pipeline`). Once a batch's database transaction committed, its
dead letters and its offsets are committed in one Kafka transaction per
partition (`KafkaTransactions`: a producer per partition, whose id every
member derives alike, so a member that lost a partition is fenced; offsets
are committed only that way), and up to
`ingest_writers` batches are written at once while the next is read, their
Kafka transactions made one after another in the order they were read. A
crash at any point re-reads: the idempotent writer turns the re-read into
duplicates, never into double rows, and the letters of an uncommitted
transaction never become readable (to consumers reading committed data), so
each is dead-lettered once. Every `kafka_lag_interval_s` the lag of each
assigned partition is measured from the broker's log end, whether or not
batches are stored (`ingestor.sources.kafka_lag`).

Failure behaviour:
- Database or broker unreachable: the writes and the Kafka transactions
  retry with capped exponential backoff, the pipeline refuses more
  (back-pressure), and once the source has waited `KEEPALIVE_S` with a write
  still retrying, all assigned partitions are paused. The loop keeps
  polling the paused partitions, which returns nothing but keeps the group
  membership (`max.poll.interval`); fetching resumes when the pipeline takes
  messages again.
- Partitions about to be revoked: everything read is written and committed
  first. What cannot be within `REVOKE_GRACE_S` (an outage) is given up
  uncommitted: whoever gets the partitions re-reads it.
- Stop requested: everything read is written and committed, then the group
  is left. During an outage the writes are given up (uncommitted) so the
  process can exit; with the broker away, leaving the group waits at most
  `STOP_BOUND_S` and stopping the producers at most their bound (the group
  then notices the
  member gone after its session timeout; whoever takes its partitions
  re-reads what was not committed).
- A batch given up is never skipped: no batch read after it commits until
  the consumer has sought back to its first message on the partitions still
  assigned (messages of those partitions held meanwhile are dropped, to be
  read again in order); its dead letters ride only on its own transaction,
  so a later commit passing it would lose them.
- Any other failure of a write ends the source, and with it the process
  (exit code 1); nothing read after the failed batch is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.pipeline.batch import Batch, Batcher
from ingestor.pipeline.deadletter import KafkaTransactions, broker_outage
from ingestor.pipeline.decode import Decode
from ingestor.pipeline.message import Message
from ingestor.pipeline.retry import Backoff, log_retry
from ingestor.pipeline.step import MessageRejected, feed
from ingestor.pipeline.write import Write, Written, store
from ingestor.sources.kafka_lag import LagProbe
from ingestor.writer import Writer
from schema.errors import BrokerUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE: Final = "kafka"
# How long writes may keep retrying an outage while partitions are revoked.
REVOKE_GRACE_S: Final = 10.0
# How long the group waits for a member to rejoin in a rebalance. A member
# settling a revocation during an outage rejoins only after its grace, the
# last attempt of a write or a Kafka transaction in flight (each bounded, at
# about 5 s) and the join; with aiokafka's default (the session timeout,
# 10 s: the grace alone) the group would evict it and hand its partitions on
# while it still commits them.
REBALANCE_TIMEOUT_MS: Final = 30_000
# A member that does not poll for this long leaves the group. The loop polls
# at least every KEEPALIVE_S while a write retries, but not while it waits
# on a slow, working write; at least the rebalance timeout (aiokafka's default).
MAX_POLL_INTERVAL_MS: Final = 300_000
# At most this long to leave the group: with the broker away it would wait
# for it without end.
STOP_BOUND_S: Final = 10.0
# Waiting on back-pressure, the source looks this often whether a write is
# retrying an outage (then it pauses), and polls the paused partitions.
KEEPALIVE_S: Final = 1.0
# A poll returns after this long without records, so the loop stays lively.
POLL_MAX_S: Final = 0.5


def to_message(record: ConsumerRecord[bytes, bytes]) -> Message:
    return Message(
        value=record.value,
        key=record.key,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
    )


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
        self.stats = stats
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.kafka_group_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.kafka_auto_offset_reset,
            max_poll_records=settings.batch_size,
            # Reads of an upstream transaction that was aborted are not reads.
            isolation_level="read_committed",
            rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
            max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        )
        self.transactions = KafkaTransactions(
            settings.kafka_bootstrap_servers,
            settings.dlq_topic,
            settings.kafka_group_id,
            self.consumer.committed,
        )
        self.lag = LagProbe(self.consumer, stats, settings.kafka_lag_interval_s)
        self.backoff = Backoff(max_backoff_s)
        self.write = Write(
            functools.partial(store, pool, Writer()),
            None,  # the commit's transaction carries the dead letters
            self._commit,
            stats,
            SOURCE,
            writers=writers or settings.ingest_writers,
            backoff=self.backoff,
        )
        self.batcher = Batcher(self.write, settings.batch_size, settings.batch_max_age_ms / 1000)
        self.pipeline = Decode(self.batcher, settings.naive_tz(), settings.capture_window())
        # Read but not yet taken by the pipeline (it refused them: back-pressure).
        self._held: deque[Message] = deque()
        # Settling for a revocation and for the stop take turns: each sets how
        # long the writes may retry. The loop must not hold this (or any lock
        # the rebalance listener takes) across a poll: during a rebalance
        # `getmany` waits for the new assignment, which waits for the listener.
        self._settling = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then write and commit what was read, and leave."""
        self.consumer.subscribe([self.settings.kafka_topic], listener=_Rebalance(self))
        if not await self._start_clients(stop):
            await self._stop_clients()
            return
        log.info(
            "kafka source consuming %s as %s",
            self.settings.kafka_topic,
            self.settings.kafka_group_id,
        )
        stopping = asyncio.ensure_future(stop.wait())
        measuring = asyncio.create_task(self.lag.run())
        try:
            while not stop.is_set():
                await self._turn(stopping)
            await self.settle(grace_s=0.0)
        finally:
            stopping.cancel()
            measuring.cancel()
            self.write.cancel()  # only after a failure: nothing of it is committed
            await self._stop_clients()
            log.info("kafka source stopped")

    async def settle(self, grace_s: float) -> None:
        """Write and commit everything read; give up what an outage keeps past `grace_s`.

        What is given up is read again: the consumer seeks back to it on the
        partitions still assigned. Raises a write's failure (not an outage).
        """
        async with self._settling:
            held, self._held = self._held, deque()
            self.backoff.give_up_after(grace_s)
            try:
                await feed(self.pipeline, held)
            finally:
                self.backoff.keep_trying()
                self._rewind(self.write.take_dropped())

    async def _start_clients(self, stop: asyncio.Event) -> bool:
        """Start the consumer, waiting for the broker; False if stopped first.

        The transactional producers start at their partitions' first commits.
        """
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(BrokerUnavailable),
                wait=wait_exponential_jitter(
                    multiplier=0.1, max=self.backoff.max_backoff_s, jitter=0.1
                ),
                stop=lambda _: stop.is_set(),
                before_sleep=log_retry,
                reraise=True,
            ):
                with attempt:
                    await _broker_call(self.consumer.start())
        except BrokerUnavailable:
            if stop.is_set():
                return False
            raise
        return True

    async def _stop_clients(self) -> None:
        """Leave the group within `STOP_BOUND_S`, then stop the producers (bounded too)."""
        try:
            await asyncio.wait_for(self.consumer.stop(), STOP_BOUND_S)
        except asyncio.CancelledError:
            # aiokafka's fetcher awaits the fetches it cancelled on close, and
            # their cancellation escapes `stop`: not ours unless we are cancelled.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning("leaving the group was cut short; the group notices the member gone")
        except TimeoutError:
            log.warning(
                "could not leave the group within %.0f s (broker away?): the group "
                "notices after its session timeout",
                STOP_BOUND_S,
            )
        await self.transactions.stop()

    async def _turn(self, stopping: asyncio.Future[Any]) -> None:
        """Hand what was read to the pipeline; then read more, or wait while it refuses."""
        held, submit = self._held, self.pipeline.submit
        try:
            while held:
                submit(held[0])
                held.popleft()
            self.pipeline.poll()
        except MessageRejected as exc:
            await self._wait(exc.ready, stopping)
            return
        self._resume()
        timeout_s = min(self.batcher.age_left_s(), POLL_MAX_S)
        self._hold(await self.consumer.getmany(timeout_ms=max(int(timeout_s * 1000), 1)))

    async def _wait(self, ready: asyncio.Future[Any], stopping: asyncio.Future[Any]) -> None:
        """Wait for the pipeline to move; during an outage, pause and stay in the group.

        Slow writes are only waited for: pausing drops what the consumer has
        fetched ahead, and a write outlasting `max.poll.interval` is not slow.
        """
        done, _ = await asyncio.wait(
            [ready, stopping], timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
        )
        if not done and self.backoff.retrying:
            self._pause()  # again: a rebalance may have brought new, unpaused partitions
            # Paused partitions return nothing; the poll tells the group we are alive.
            self._hold(await self.consumer.getmany(timeout_ms=0))

    def _hold(self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        count = 0
        for tp, partition_records in records.items():
            if partition_records:
                self.lag.read(tp, partition_records[0].offset)
            self._held.extend(map(to_message, partition_records))
            count += len(partition_records)
        if count:
            self.stats.record_consumed(SOURCE, count)

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

    async def _commit(self, written: Written) -> None:
        """The acknowledgement of a written batch: its dead letters and offsets in one
        Kafka transaction; then the lag probe learns the offsets, and a log line.

        `BrokerUnavailable`: not committed now (the write step retries; the
        next attempt learns whether this one committed after all).
        """
        started = time.monotonic()
        offsets = {
            TopicPartition(topic, part): offset
            for (topic, part), offset in written.batch.next_offsets.items()
        }
        await self.transactions.commit(written.dead, offsets)
        self.lag.committed(offsets)
        # One line per batch at INFO for operators: counts, time and the offsets
        # committed (what a replay or a lost letter is traced by), no plate text.
        log.info(
            "batch stored=%d duplicates=%d dead_lettered=%d seconds=%.3f committed=%s",
            written.result.stored,
            written.result.duplicates,
            len(written.dead),
            written.seconds + time.monotonic() - started,
            ",".join(f"{tp.partition}:{o}" for tp, o in sorted(offsets.items())),
        )

    def _rewind(self, dropped: list[Batch]) -> None:
        """Seek back to the first message of `dropped` on each partition still assigned.

        Messages of those partitions still held lie past the given-up ones:
        they are read again after them, and must not be written before them.
        """
        firsts: dict[tuple[str, int], int] = {}
        for batch in dropped:
            for partition, offset in batch.first_offsets.items():
                firsts[partition] = min(offset, firsts.get(partition, offset))
        if firsts and self._held:
            self._held = deque(m for m in self._held if (m.topic, m.partition) not in firsts)
        assigned = self.consumer.assignment()
        for (topic, part), offset in firsts.items():
            tp = TopicPartition(topic, part)
            if tp in assigned:
                with contextlib.suppress(KafkaError):  # a partition going away: no matter
                    self.consumer.seek(tp, offset)


async def _broker_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except (KafkaError, AssertionError) as exc:
        outage = broker_outage(exc)
        if outage is None:
            raise
        raise outage from exc


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Settle before partitions go; a new assignment starts unpaused; the lag
    probe follows the assignment."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("revoking %d partitions: storing and committing what was read", len(revoked))
        await self.source.settle(grace_s=REVOKE_GRACE_S)
        self.source.transactions.release(revoked)
        self.source.lag.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        metrics.PAUSED.set(0)
        self.source.lag.assigned(assigned)
        log.info("assigned %d partitions", len(assigned))
