"""Consumer lag of the Kafka source's partitions, measured on a clock.

Every `interval_s` the probe asks the broker for the log end of every
assigned partition at once (`AIOKafkaConsumer.end_offsets`: one ListOffsets
request per partition leader, so one on a single broker, however many
partitions; under `read_committed` the end is the last stable offset) and
records each partition's lag through `Stats.record_lag`: the end minus the
partition's first offset not yet stored and committed, stamped with the time
the broker was asked. It never touches the database, so it goes on through
a database outage, when the lag matters most. The consumer's `highwater` is
not used: it comes with fetch responses only, so it stands still while a
partition is paused (an outage) or while fetched records wait to be taken.

The first offset not committed is known without asking the broker: the
offset this process last committed for the partition (`committed`), else
the first offset it read of it since it was assigned (`read`), else the
consumer's position, which, nothing read yet, is where reading starts.

Failure behaviour:
- Partitions revoked: they are forgotten at once (gauge and published rows;
  the new owner measures them). A round that spans a rebalance is dropped.
- The broker away or slow: the round is given up after `BOUND_S` (logged
  once until a round succeeds again); the last values stand with their
  older `measured_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from ingestor.metrics import Stats

log = logging.getLogger(__name__)

# A round waits at most this long for the broker: a measurement that late is stale.
BOUND_S: Final = 5.0


class LagProbe:
    """Measures the lag of the partitions `assigned` to `consumer` into `stats`.

    The source tells it what happens to its partitions: `assigned`,
    `revoked`, `read` (the first offset taken of a partition) and
    `committed` (offsets stored and committed).
    """

    def __init__(self, consumer: AIOKafkaConsumer, stats: Stats, interval_s: float) -> None:
        self.consumer = consumer
        self.stats = stats
        self.interval_s = interval_s
        self._assigned: set[TopicPartition] = set()
        # Each partition's first offset not yet stored and committed, where known.
        self._floor: dict[TopicPartition, int] = {}
        # Moved by every rebalance: a round that saw it move records nothing.
        self._generation = 0
        self._failing = False
        # Set by a new assignment: its partitions are measured without waiting a round.
        self._wake = asyncio.Event()

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        new = set(partitions)
        self._forget(self._assigned - new)
        self._assigned = new
        self._wake.set()

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        gone = set(partitions)
        self._forget(gone)
        self._assigned -= gone

    def read(self, partition: TopicPartition, offset: int) -> None:
        """`offset` was taken of `partition`: nothing before it is left to store."""
        self._floor.setdefault(partition, offset)

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Everything before `offsets` is stored and committed."""
        for partition, offset in offsets.items():
            self._floor[partition] = max(offset, self._floor.get(partition, offset))

    async def run(self) -> None:
        """Measure every `interval_s`, and at once after an assignment, until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.measure()
            except Exception:
                log.exception("measuring consumer lag failed; trying again next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)

    async def measure(self) -> None:
        """One round: record the lag of every assigned partition, or give up."""
        generation, partitions = self._generation, sorted(self._assigned)
        if not partitions:
            return
        try:
            async with asyncio.timeout(BOUND_S):
                # The position moves only as `getmany` returns records, which
                # the source passes to `read` before it awaits anything else.
                starts = {
                    tp: await self.consumer.position(tp)
                    for tp in partitions
                    if tp not in self._floor
                }
                measured_at = datetime.now(UTC)
                ends: dict[TopicPartition, int] = await self.consumer.end_offsets(partitions)
        except (KafkaError, TimeoutError) as exc:
            if not self._failing:
                log.warning("could not measure consumer lag (the last values stand): %r", exc)
            self._failing = True
            return
        if generation != self._generation:
            return  # a rebalance came in between: the next round measures the new assignment
        if self._failing:
            log.info("consumer lag measured again")
        self._failing = False
        for tp, end in ends.items():
            start = self._floor[tp] if tp in self._floor else starts[tp]
            self.stats.record_lag(tp.topic, tp.partition, end - start, measured_at)

    def _forget(self, partitions: set[TopicPartition]) -> None:
        self._generation += 1
        for tp in partitions:
            self._floor.pop(tp, None)
            self.stats.drop_lag(tp.topic, tp.partition)
