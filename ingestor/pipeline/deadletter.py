"""Where Kafka's dead letters go: the dead-letter topic.

Kafka: each dead letter keeps the original key and bytes, and headers say
why (`reason`, `reason_code`) and where it came from (`original_topic`,
`original_partition`, `original_offset`, `original_timestamp`), so it can be
inspected, fixed and replayed. `KafkaTransactions` commits a batch's dead
letters together with the batch's consumer offsets, in one Kafka
transaction per partition, after the database transaction that stored the
batch: a letter becomes readable exactly when the offset past its message
is committed, so every malformed message is dead-lettered once for
consumers of the dead-letter topic that read committed data
(`isolation_level="read_committed"`). HTTP
and file import deliver theirs to sinks of their own (the answer's
rejections, the rejects file), with the write step's `Deliver` contract.

Why once. Each input partition has its own transactional producer, with an
id every process derives alike (`{group}.{topic}.{partition}`): the
fencing unit is the partition, as aiokafka commits offsets in a transaction
without the group's generation (TxnOffsetCommit v0, before KIP-447). Every
producer, once started, first reads its partition's committed offset; from
then on no other producer of the id has started, or its next transaction
fails (fenced), so what it commits follows what it read.
- A crash between the database commit and the Kafka commit: the batch is
  read again (its reads are duplicates, stored once) by whoever owns the
  partition next. Its producer's start aborts the dead one's transaction,
  whose letters never become readable, and the letters are sent again.
- A member that lost its partitions without knowing it (frozen past the
  session timeout, cut off by a rebalance): the new owner's producer fenced
  its producer, so its transaction fails; retried, it starts a producer
  again (fencing the owner's in turn), reads the committed offset and adds
  nothing below it. The owner's next transaction fails the same way and
  learns the same. Nothing is committed twice, and the group's offsets
  never move back.
- A batch whose transaction is given up (failing past a revocation's
  grace, or at a stop): no batch read after it commits in this process
  until it is read again (`ingestor.pipeline.write`), since a later
  transaction's offsets would pass its letters, which only its own
  transaction carries.
- A batch over several partitions of which some commit and some fail: the
  retry adds nothing for those that committed, which the process knows
  without asking (right after a commit the group's offset may still read as
  the one before, until the broker has applied the commit markers).
- A transaction that fails (the broker goes away, no answer within
  `bound_s`): its producer is replaced. Starting the new one ends the old
  transaction, committed if the broker had accepted the commit, aborted
  otherwise; the committed offset read next says which, and only what lies
  past it is sent again.

Costs: a batch spanning several partitions makes one transaction per
partition (concurrent), and a process holds one producer per partition it
commits (stopped when the partition is revoked). A transaction left open
by a process that died hides later letters of the dead-letter partitions it
wrote to from read_committed readers until the partition's next producer
starts (the new owner's first commit) or the broker aborts it after
`TRANSACTION_TIMEOUT_MS`; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IllegalOperation,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
from aiokafka.structs import TopicPartition

from ingestor.pipeline.message import DeadLetter
from schema.errors import BrokerUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

HEADER_REASON: Final = "reason"
HEADER_CODE: Final = "reason_code"
# The broker aborts a transaction open longer than this: one left open by a
# process that died, which hides later letters from read_committed readers.
# Well above `KafkaTransactions.bound_s`, the longest a live one stays open.
TRANSACTION_TIMEOUT_MS: Final = 15_000
# Between two transactions the broker answers "concurrent transactions" until
# the last one's markers are written; aiokafka's default retry backoff
# (100 ms) would then be paid by every batch.
RETRY_BACKOFF_MS: Final = 20
# The assertion aiokafka (0.12-0.14, client.coordinator_lookup) makes when it
# knows no broker: an outage (`broker_outage`).
NO_BROKER_KNOWN: Final = "Did we not perform bootstrap?"
# Permissions, not outages: retrying cannot help, the source stops.
FATAL: Final = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    ClusterAuthorizationFailedError,
)

Offsets = Mapping[TopicPartition, int]
# The group's committed offset of a partition (None: none), e.g. AIOKafkaConsumer.committed.
Committed = Callable[[TopicPartition], Awaitable[int | None]]


def headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The Kafka headers of a dead letter."""
    m = letter.message
    timestamp = "" if m.timestamp_ms is None else str(m.timestamp_ms)
    return [
        (HEADER_REASON, letter.reason.encode()),
        (HEADER_CODE, letter.code.encode()),
        ("original_topic", m.topic.encode()),
        ("original_partition", str(m.partition).encode()),
        ("original_offset", str(m.offset).encode()),
        ("original_timestamp", timestamp.encode()),
    ]


class KafkaTransactions:
    """Commits dead letters to `topic` with consumer offsets of `group_id`, atomically.

    One transactional producer per input partition, with the id
    `{group_id}.{topic}.{partition}`, started at the partition's first
    commit. `committed` reads the group's committed offset of a partition;
    it is asked once per producer started, and after a transaction whose
    outcome is unknown. Every wait on the broker is bounded by `bound_s`;
    past it the broker counts as unavailable.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        committed: Committed,
        bound_s: float = 5.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.group_id = group_id
        self.committed = committed
        self.bound_s = bound_s
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        # Partitions whose committed offset must be read before their next
        # transaction: a new producer's, or a failed transaction's.
        self._unsure: set[TopicPartition] = set()
        # The offset this process's last transaction of a partition committed.
        # What a partition that did commit knows without asking: right after a
        # commit the group's offset may still read as the one before (the
        # broker applies it once the commit markers are written).
        self._done: dict[TopicPartition, int] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    def transactional_id(self, partition: TopicPartition) -> str:
        """The id of the producer committing `partition`: the same in every process."""
        return f"{self.group_id}.{partition.topic}.{partition.partition}"

    async def commit(self, letters: Sequence[DeadLetter], offsets: Offsets) -> None:
        """Send `letters` and commit `offsets`, one transaction per partition; return once
        every one committed. Each letter's message lies in a partition of `offsets`.

        `BrokerUnavailable`: not known to be committed (some partitions may
        be). Call again (with this batch, or with whatever is read next if it
        was given up): each partition first learns what became of its last
        transaction and sends only the rest. Partitions are independent: a
        letter is readable exactly when its partition's offset past it is.
        """
        by_partition: dict[TopicPartition, list[DeadLetter]] = {tp: [] for tp in offsets}
        for letter in letters:
            by_partition[_partition(letter)].append(letter)
        outcomes = await asyncio.gather(
            *(self._commit_one(tp, by_partition[tp], o) for tp, o in offsets.items()),
            return_exceptions=True,
        )
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            # The call is retried whole: the partitions that did commit know it
            # (`_done`), the others read their committed offset first.
            # A fault that is not the broker's absence outranks it.
            raise min(failures, key=lambda exc: isinstance(exc, BrokerUnavailable))

    def release(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop the producers of `partitions` (revoked) in the background.

        Whoever commits them next starts a producer of the same id, which
        fences these anyway; stopping them only frees their connections.
        """
        for tp in partitions:
            self._done.pop(tp, None)
            producer = self._producers.pop(tp, None)
            if producer is not None:
                self._retire(producer)

    async def stop(self) -> None:
        """Stop every producer, waiting at most about `bound_s`.

        A transaction left open (the broker away) is aborted when the
        partition's next producer starts, or by the broker after
        `TRANSACTION_TIMEOUT_MS`.
        """
        self.release(list(self._producers))
        if self._retiring:
            await asyncio.wait(self._retiring)

    async def _commit_one(self, tp: TopicPartition, letters: list[DeadLetter], offset: int) -> None:
        producer = self._producers.get(tp)
        if producer is None:
            producer = await self._start(tp)
        done = self._done.get(tp, 0)
        if tp in self._unsure:
            group_offset: int | None = await self._bounded(self.committed(tp))
            done = max(done, group_offset or 0)
            self._unsure.discard(tp)
        if done >= offset:
            return  # committed already (or by another member since: nothing to add)
        kept = [letter for letter in letters if letter.message.offset >= done]
        if len(kept) < len(letters):
            log.info(
                "%s was committed up to %d: sending %d of %d dead letters",
                tp,
                done,
                len(kept),
                len(letters),
            )
        try:
            await self._bounded(self._transaction(producer, kept, {tp: offset}))
            self._done[tp] = offset
        except BaseException:
            self._unsure.add(tp)
            if self._producers.get(tp) is producer:
                del self._producers[tp]  # replaced at the next attempt
                self._retire(producer)
            raise

    async def _start(self, tp: TopicPartition) -> AIOKafkaProducer:
        """Start the partition's producer: `BrokerUnavailable` if the broker is away.

        Starting fences every earlier producer of the id (a member that lost
        the partition without knowing it, a process that died) and ends its
        transaction, committed if the broker had accepted the commit, else
        aborted; so the committed offset read next is final.
        """
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            transactional_id=self.transactional_id(tp),
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            retry_backoff_ms=RETRY_BACKOFF_MS,
        )
        try:
            await self._bounded(producer.start())
        except BaseException:
            self._retire(producer)
            raise
        self._producers[tp] = producer
        self._unsure.add(tp)
        return producer

    async def _transaction(
        self, producer: AIOKafkaProducer, letters: Sequence[DeadLetter], offsets: Offsets
    ) -> None:
        await producer.begin_transaction()
        acks = [
            await producer.send(
                self.topic,
                value=letter.message.value or b"",
                key=letter.message.key,
                headers=headers(letter),
            )
            for letter in letters
        ]
        # A letter the broker refused must not be committed without it.
        await asyncio.gather(*acks)
        await producer.send_offsets_to_transaction(dict(offsets), self.group_id)
        await self._end(producer)

    async def _end(self, producer: AIOKafkaProducer) -> None:
        """Commit the open transaction (one method: tests lose its answer here)."""
        await producer.commit_transaction()

    async def _bounded(self, call: Awaitable[T]) -> T:
        """`await call` within `bound_s`; the broker's absence is `BrokerUnavailable`."""
        try:
            return await asyncio.wait_for(call, self.bound_s)
        except FATAL:
            raise
        except TimeoutError:
            raise BrokerUnavailable(f"no answer from Kafka within {self.bound_s:.0f} s") from None
        except IllegalOperation as exc:  # a transaction left by a broker that went away
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except (KafkaError, AssertionError) as exc:
            outage = broker_outage(exc)
            if outage is None:
                raise
            raise outage from exc

    def _retire(self, producer: AIOKafkaProducer) -> None:
        """Stop `producer` in the background, within `bound_s`.

        With the broker away its sender may go on retrying past that; the
        producer that replaces it fences it once the broker is back.
        """
        task = asyncio.ensure_future(_quietly(producer.stop(), self.bound_s))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)


def _partition(letter: DeadLetter) -> TopicPartition:
    return TopicPartition(letter.message.topic, letter.message.partition)


async def _quietly(call: Coroutine[Any, Any, None], bound_s: float) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(call, bound_s)


def broker_outage(exc: BaseException) -> BrokerUnavailable | None:
    """`exc` as the broker's absence, for every call into aiokafka (the
    consumer's start, the transactions); None when it is something else.

    aiokafka's coordinator lookup asserts, where it could raise, when its
    metadata lists no broker: a broker that is restarting can answer so.
    The broker is away then, not the code wrong.
    """
    if isinstance(exc, KafkaError):
        return BrokerUnavailable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, AssertionError) and NO_BROKER_KNOWN in str(exc):
        return BrokerUnavailable(f"Kafka named no broker yet ({exc})")
    return None
