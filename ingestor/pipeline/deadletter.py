"""Where Kafka's dead letters go: the dead-letter topic.

Kafka: each dead letter keeps the original key and bytes, and headers say
why (`reason`, `reason_code`) and where it came from (`original_topic`,
`original_partition`, `original_offset`, `original_timestamp`), so it can be
inspected, fixed and replayed. `KafkaTransactions` commits a batch's dead
letters together with the batch's consumer offsets in one Kafka transaction,
after the database transaction that stored the batch: a letter becomes
readable exactly when the offset past its message is committed, so every
malformed message is dead-lettered once for consumers of the dead-letter
topic that read committed data (`isolation_level="read_committed"`). HTTP
and file import deliver theirs to sinks of their own (the answer's
rejections, the rejects file), with the write step's `Deliver` contract.

Why once:
- A crash between the database commit and the Kafka commit: the batch is
  read again (its reads are duplicates, stored once), and its letters are
  sent again in a new transaction; the first one, never committed, is
  aborted by the broker and its letters never become readable.
- A transaction that fails (the broker goes away, no answer within
  `bound_s`, the producer fenced): the producer is replaced by one with the
  same transactional id. Starting it fences the old one and ends the old
  transaction: committed if the broker had accepted its commit, aborted
  otherwise. Which of the two is then read from the group's committed
  offsets (they were part of it), and only what lies past them is sent again.

The transactional id is the group id and a random instance id, one per
process, kept across producer replacements. The trade-offs:
- Two processes never share an id, so none fences another by mistake (a
  fixed id copied between two processes would have them fence each other in
  turn).
- A process that dies inside a transaction leaves it open, and no successor
  with its id comes to end it: the broker aborts it after
  `TRANSACTION_TIMEOUT_MS` (plus its cleanup interval). Until then
  read_committed consumers of the dead-letter partitions it wrote to wait;
  nothing is lost.
- No zombie fencing: aiokafka commits offsets in a transaction without the
  group's generation (TxnOffsetCommit v0, before KIP-447), so a member the
  group evicted without its knowing could still commit a batch of partitions
  another member now reads; its letters would come twice (its reads stay
  once). The Kafka source keeps eviction out of its own paths (heartbeats
  run in the background, a revocation settles within the rebalance
  timeout); what is left is a process frozen past the session timeout with a
  transaction in hand.
- aiokafka's offset fetch cannot ask for stable offsets (KIP-447's
  require_stable): a transaction whose commit the broker accepted just as it
  went down is completed once it is back, and a member that read the
  group's offsets in between reads those messages again. The window is
  the broker writing its markers after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
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

    `committed` reads the group's committed offsets; it is asked only after a
    transaction whose outcome is unknown. Every wait on the broker is bounded
    by `bound_s`; past it the broker counts as unavailable.
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
        self.transactional_id = f"{group_id}-{uuid.uuid4().hex[:16]}"
        self.committed = committed
        self.bound_s = bound_s
        self._producer: AIOKafkaProducer | None = None
        # Whether a commit was asked for and not confirmed: it may have happened.
        self._unsure = False
        self._retiring: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start a producer with the transactional id; `BrokerUnavailable` if the broker is away.

        Starting fences every earlier producer with the id and ends its
        transaction (committed if the broker had accepted the commit).
        """
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            transactional_id=self.transactional_id,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            retry_backoff_ms=RETRY_BACKOFF_MS,
        )
        try:
            await self._bounded(producer.start())
        except BrokerUnavailable:
            self._retire(producer)
            raise
        self._producer = producer

    async def commit(self, letters: Sequence[DeadLetter], offsets: Offsets) -> None:
        """Send `letters` and commit `offsets` in one transaction; return once committed.

        `BrokerUnavailable`: not known to be committed. Call again (with this
        batch, or with whatever is read next if it was given up): the next
        call first learns what became of this one and sends only the rest.
        """
        if self._producer is None:
            await self.start()
        if self._unsure:
            letters, offsets = await self._not_yet_committed(letters, offsets)
            self._unsure = False
            if not offsets:
                return
        producer = self._producer
        assert producer is not None
        try:
            await self._bounded(self._transaction(producer, letters, offsets))
        except BrokerUnavailable:
            self._producer = None
            self._retire(producer)
            raise

    async def stop(self) -> None:
        """Stop the producer, waiting at most `bound_s`.

        A transaction left open (the broker away) is aborted by the broker
        after `TRANSACTION_TIMEOUT_MS`.
        """
        if self._producer is not None:
            self._retire(self._producer)
            self._producer = None
        if self._retiring:
            await asyncio.wait(self._retiring)

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
        self._unsure = True
        await producer.commit_transaction()
        self._unsure = False

    async def _not_yet_committed(
        self, letters: Sequence[DeadLetter], offsets: Offsets
    ) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
        """What of `letters` and `offsets` lies past the group's committed offsets.

        Letters and offsets are committed together, so a message below its
        partition's committed offset has had its letter committed.
        """
        done = {tp: await self._bounded(self.committed(tp)) for tp in offsets}
        left = {tp: o for tp, o in offsets.items() if (done[tp] or 0) < o}
        kept = [
            letter
            for letter in letters
            if letter.message.offset >= (done.get(_partition(letter)) or 0)
        ]
        if len(left) < len(offsets) or len(kept) < len(letters):
            log.info(
                "the last transaction had committed %d of %d partitions; "
                "sending %d of %d dead letters",
                len(offsets) - len(left),
                len(offsets),
                len(kept),
                len(letters),
            )
        return kept, left

    async def _bounded(self, call: Awaitable[T]) -> T:
        """`await call` within `bound_s`; the broker's absence is `BrokerUnavailable`."""
        try:
            return await asyncio.wait_for(call, self.bound_s)
        except FATAL:
            raise
        except TimeoutError:
            raise BrokerUnavailable(f"no answer from Kafka within {self.bound_s:.0f} s") from None
        except (KafkaError, IllegalOperation) as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc

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
