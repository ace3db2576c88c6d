"""Dead letters exactly once, on a real broker: letters and offsets in one transaction.

A transaction that fails before its commit, one whose commit happened but
whose answer was lost, a batch given up and read again with more in it, a
member that lost its partition without knowing it (a zombie), a batch over
two partitions of which one fails (also with the group's offset read
stale after the other's commit), an ingestor that dies between the
database commit and the Kafka commit, and a batch given up while the next
one could commit: in each, a `read_committed` reader of the dead-letter
topic sees every letter once, while a `read_uncommitted` one shows the
copies that were sent and aborted (so those cases really sent twice).

Assertions compare small things (offsets, counts), so a failure prints
readably; every wait is bounded by a deadline, not a count of sleeps, and
the transactions' own bound is generous, so a loaded machine makes a case
slower, not a failed attempt more.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from core.settings import IngestorSettings
from ingestor import metrics
from ingestor.pipeline.deadletter import KafkaTransactions
from ingestor.pipeline.message import INVALID_EVENT, DeadLetter, Message
from ingestor.sources.kafka import KafkaSource
from schema.errors import BrokerUnavailable
from tests.factories import kafka_ingestor_settings, wire_event

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]
SOURCE_TOPIC = "source"
# The transactions' bound on each broker call: a busy CI host answers in
# seconds, and an attempt past the bound would count as a failure here.
BOUND_S = 30.0
# How long a case waits for a source to get somewhere.
PATIENCE_S = 120.0


class LostAnswer(KafkaTransactions):
    """Commits the first transaction, then acts as if the broker's answer never came."""

    lost = 0

    async def _end(self, producer: AIOKafkaProducer) -> None:
        await super()._end(producer)
        if not self.lost:
            self.lost += 1
            raise KafkaConnectionError("the answer was lost")


class GoneBeforeCommit(KafkaTransactions):
    """The broker goes away after the first transaction's letters, before its commit."""

    gone = 0

    async def _end(self, producer: AIOKafkaProducer) -> None:
        if not self.gone:
            self.gone += 1
            raise KafkaConnectionError("the broker went away")
        await super()._end(producer)


class Crash(Exception):
    """Stands for the process dying."""


class DiesBeforeCommit(KafkaTransactions):
    """The process dies with its first transaction open: letters sent, nothing committed."""

    async def _end(self, producer: AIOKafkaProducer) -> None:
        raise Crash


def _letter(offset: int, partition: int = 0) -> DeadLetter:
    message = Message(b"bad %d" % offset, b"k", SOURCE_TOPIC, partition, offset, 1)
    return DeadLetter(message, INVALID_EVENT, f"bad message {offset}")


def _partition(partition: int = 0) -> TopicPartition:
    return TopicPartition(SOURCE_TOPIC, partition)


def _offsets(next_offset: int, partition: int = 0) -> dict[TopicPartition, int]:
    return {_partition(partition): next_offset}


async def _create(bootstrap: str, *topics: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def _read(bootstrap: str, topic: str, isolation: str) -> list[tuple[int, int]]:
    """(original partition, original offset) of every record readable at `isolation`.

    Waits (up to a minute) until no transaction is open on the topic: one
    left open by a dead producer is aborted by the broker after its timeout.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, isolation_level=isolation
    )
    peek = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    await peek.start()
    try:
        tp = TopicPartition(topic, 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while (await consumer.end_offsets([tp]))[tp] != (await peek.end_offsets([tp]))[tp]:
            assert loop.time() < deadline, "a transaction stayed open"
            await asyncio.sleep(0.5)
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        out: list[tuple[int, int]] = []
        while await consumer.position(tp) < end:
            assert loop.time() < deadline, f"{topic} not read to {end} in time"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    h = dict(r.headers)
                    out.append((int(h["original_partition"]), int(h["original_offset"])))
        return out
    finally:
        await consumer.stop()
        await peek.stop()


@pytest.fixture
async def group(kafka_bootstrap: str) -> AsyncIterator[tuple[str, str, AIOKafkaConsumer]]:
    """(dead-letter topic, group id, a consumer of the group) for KafkaTransactions."""
    dlq, group_id = f"dlq-{uuid.uuid4().hex}", f"group-{uuid.uuid4().hex}"
    await _create(kafka_bootstrap, dlq)
    # The broker takes offsets only of a topic it has; each test has a group of its own.
    await _create(kafka_bootstrap, SOURCE_TOPIC, partitions=2)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group_id)
    await consumer.start()
    try:
        yield dlq, group_id, consumer
    finally:
        await consumer.stop()


async def _commit_retrying(
    transactions: KafkaTransactions, batches: Sequence[tuple[list[DeadLetter], int]]
) -> int:
    """Commit each (letters, next offset), retrying a failure as the write step does;
    returns how many attempts failed."""
    failed = 0
    try:
        for letters, next_offset in batches:
            failed += await _retrying(transactions, letters, next_offset)
    finally:
        await transactions.stop()
    return failed


async def _retrying(transactions: KafkaTransactions, letters: list[DeadLetter], offset: int) -> int:
    """Commit, retrying the broker's absence up to ten times; returns the failures."""
    for failed in range(10):
        try:
            await transactions.commit(letters, _offsets(offset))
            return failed
        except BrokerUnavailable:
            continue
    raise AssertionError("ten attempts failed")


async def test_a_commit_whose_answer_was_lost_is_not_sent_again(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    dlq, group_id, consumer = group
    transactions = LostAnswer(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    batches = [([_letter(1), _letter(4)], 10), ([_letter(12)], 20)]
    assert await _commit_retrying(transactions, batches) == 1
    expected = [(0, 1), (0, 4), (0, 12)]
    assert await _read(kafka_bootstrap, dlq, "read_committed") == expected
    assert await _read(kafka_bootstrap, dlq, "read_uncommitted") == expected  # none resent
    assert await consumer.committed(TopicPartition(SOURCE_TOPIC, 0)) == 20


async def test_a_transaction_that_failed_before_its_commit_is_sent_again_once(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    dlq, group_id, consumer = group
    transactions = GoneBeforeCommit(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    batches = [([_letter(1), _letter(4)], 10), ([_letter(12)], 20)]
    assert await _commit_retrying(transactions, batches) == 1
    assert await _read(kafka_bootstrap, dlq, "read_committed") == [(0, 1), (0, 4), (0, 12)]
    # The first attempt's letters were written, and aborted.
    uncommitted = Counter(await _read(kafka_bootstrap, dlq, "read_uncommitted"))
    assert uncommitted == {(0, 1): 2, (0, 4): 2, (0, 12): 1}
    assert await consumer.committed(TopicPartition(SOURCE_TOPIC, 0)) == 20


async def test_a_batch_read_again_sends_only_what_was_not_committed(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    # A transaction's answer lost, its batch given up and read again with more
    # in it (a rebalance between): the messages it had committed are skipped.
    dlq, group_id, consumer = group
    transactions = LostAnswer(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    try:
        with pytest.raises(BrokerUnavailable, match="answer was lost"):
            await transactions.commit([_letter(1), _letter(4)], _offsets(10))
        await transactions.commit([_letter(1), _letter(4), _letter(15)], _offsets(20))
    finally:
        await transactions.stop()
    assert await _read(kafka_bootstrap, dlq, "read_uncommitted") == [(0, 1), (0, 4), (0, 15)]
    assert await consumer.committed(TopicPartition(SOURCE_TOPIC, 0)) == 20


async def test_a_member_that_lost_its_partition_is_fenced(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    # Two processes of one group, one partition. The first lost it without
    # knowing (frozen past its session timeout): both read 10..20 and both
    # commit that batch; the owner reads on.
    dlq, group_id, consumer = group
    zombie = KafkaTransactions(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    owner = KafkaTransactions(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    assert zombie.transactional_id(_partition()) == owner.transactional_id(_partition())
    try:
        await zombie.commit([_letter(1)], _offsets(10))
        await owner.commit([_letter(12)], _offsets(20))  # its producer fences the zombie's
        with pytest.raises(BrokerUnavailable):
            await zombie.commit([_letter(12)], _offsets(20))
        # Retried, the zombie learns the batch was committed and adds nothing,
        # while its new producer fences the owner's in turn.
        assert await _retrying(zombie, [_letter(12)], 20) == 0
        assert await _retrying(owner, [_letter(25)], 30) == 1
    finally:
        await zombie.stop()
        await owner.stop()
    assert await _read(kafka_bootstrap, dlq, "read_committed") == [(0, 1), (0, 12), (0, 25)]
    assert await consumer.committed(_partition()) == 30


async def test_partitions_of_a_batch_commit_apart(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    # One partition's transaction fails before its commit, the other's commits:
    # the retry sends only the failed partition's letters.
    dlq, group_id, consumer = group
    transactions = GoneBeforeCommit(kafka_bootstrap, dlq, group_id, consumer.committed, BOUND_S)
    letters = [_letter(1, partition=0), _letter(2, partition=1), _letter(3, partition=1)]
    offsets = {**_offsets(10, partition=0), **_offsets(10, partition=1)}
    failed = 0
    try:
        while True:
            try:
                await transactions.commit(letters, offsets)
                break
            except BrokerUnavailable:
                failed += 1
    finally:
        await transactions.stop()
    assert failed == 1
    committed = Counter(await _read(kafka_bootstrap, dlq, "read_committed"))
    assert committed == {(0, 1): 1, (1, 2): 1, (1, 3): 1}
    uncommitted = Counter(await _read(kafka_bootstrap, dlq, "read_uncommitted"))
    assert sum(uncommitted.values()) in (4, 5)  # the failed partition's letters, twice
    for partition in (0, 1):
        assert await consumer.committed(_partition(partition)) == 10


async def test_a_partition_that_committed_does_not_trust_a_stale_group_offset(
    kafka_bootstrap: str, group: tuple[str, str, AIOKafkaConsumer]
) -> None:
    # Right after a transaction commits, the group's offset may still read as
    # the one before (the broker applies it once the markers are written).
    # Here it always does: the partition that committed must know it did.
    dlq, group_id, consumer = group

    async def stale(tp: TopicPartition) -> int | None:
        return None

    transactions = GoneBeforeCommit(kafka_bootstrap, dlq, group_id, stale, BOUND_S)
    letters = [_letter(1, partition=0), _letter(2, partition=1)]
    offsets = {**_offsets(10, partition=0), **_offsets(10, partition=1)}
    assert await _retrying_offsets(transactions, letters, offsets) == 1
    committed = Counter(await _read(kafka_bootstrap, dlq, "read_committed"))
    assert committed == {(0, 1): 1, (1, 2): 1}
    for partition in (0, 1):
        assert await consumer.committed(_partition(partition)) == 10


async def _retrying_offsets(
    transactions: KafkaTransactions,
    letters: list[DeadLetter],
    offsets: dict[TopicPartition, int],
) -> int:
    """Commit over several partitions, retrying the broker's absence; the failures."""
    try:
        for failed in range(10):
            try:
                await transactions.commit(letters, offsets)
                return failed
            except BrokerUnavailable:
                continue
    finally:
        await transactions.stop()
    raise AssertionError("ten attempts failed")


async def test_an_ingestor_dying_between_the_two_commits_leaves_each_letter_once(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    topic, camera = f"test-{uuid.uuid4().hex}", f"d{uuid.uuid4().hex[:8]}"
    await _create(kafka_bootstrap, topic, f"{topic}.dlq")
    bad = await _produce(kafka_bootstrap, topic, camera, good=30, bad_every=3)
    assert len(bad) == 10
    # All 40 messages make one batch, closed by its size.
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, batch_size=40, batch_max_age_ms=60_000
    )

    dying = KafkaSource(settings, pool, metrics.Stats())
    dying.transactions = DiesBeforeCommit(
        kafka_bootstrap,
        settings.dlq_topic,
        settings.kafka_group_id,
        dying.consumer.committed,
        BOUND_S,
    )
    with pytest.raises(Crash):
        await asyncio.wait_for(dying.run(asyncio.Event()), PATIENCE_S)
    # Its batch is stored; its letters and offsets are in a transaction left open.
    assert await _stored(pool, camera) == 30

    stats = metrics.Stats()
    await _run_until(KafkaSource(settings, pool, stats), lambda: _settled(stats) >= 40)
    counts = (stats.stored, stats.duplicates, stats.dead_lettered)
    assert counts == (0, 30, 10)
    assert await _stored(pool, camera) == 30
    committed = Counter(await _read(kafka_bootstrap, settings.dlq_topic, "read_committed"))
    assert _offsets_seen(committed) == bad
    assert _repeated(committed) == {}
    # The dead one's letters were written too: the re-read sent them again.
    uncommitted = Counter(await _read(kafka_bootstrap, settings.dlq_topic, "read_uncommitted"))
    assert sorted(set(uncommitted.values())) == [2]


class AwayForFirstBatch(KafkaTransactions):
    """The broker is away for every transaction of the partition's first batch
    (whose offsets end at `first_end`); later batches would commit."""

    first_end = 0

    async def commit(
        self, letters: Sequence[DeadLetter], offsets: Mapping[TopicPartition, int]
    ) -> None:
        if any(offset <= self.first_end for offset in offsets.values()):
            raise BrokerUnavailable("away for the first batch")
        await super().commit(letters, offsets)


async def test_a_batch_given_up_is_not_passed_by_the_next_one(
    pool: asyncpg.Pool[Any], database_url: str, kafka_bootstrap: str
) -> None:
    # Stopping with the first batch's transaction failing (grace 0: given up
    # at once) while the second batch waits behind it: the second must not
    # commit its offsets, which lie past the first's letters.
    topic, camera = f"test-{uuid.uuid4().hex}", f"g{uuid.uuid4().hex[:8]}"
    await _create(kafka_bootstrap, topic, f"{topic}.dlq")
    bad = await _produce(kafka_bootstrap, topic, camera, good=20, bad_every=3)
    settings = kafka_ingestor_settings(
        database_url, kafka_bootstrap, topic, batch_size=10, batch_max_age_ms=60_000
    )
    stats = metrics.Stats()
    first = KafkaSource(settings, pool, stats, writers=1)
    away = AwayForFirstBatch(
        kafka_bootstrap,
        settings.dlq_topic,
        settings.kafka_group_id,
        first.consumer.committed,
        BOUND_S,
    )
    away.first_end = 10
    first.transactions = away
    # Two batches read (the reading stops there: one writer, so the second
    # waits in the batcher), the first retrying its transaction: then stop.
    total = 20 + len(bad)
    await _run_until(first, lambda: stats.consumed >= 20 and first.backoff.retrying)
    tp = TopicPartition(topic, 0)
    assert await _committed(settings, tp) is None  # nothing passed the first batch

    # The next member reads it all again: every letter once, every read once.
    stats = metrics.Stats()
    await _run_until(KafkaSource(settings, pool, stats), lambda: _settled(stats) >= total)
    assert await _stored(pool, camera) == 20
    assert await _committed(settings, tp) == total
    committed = Counter(await _read(kafka_bootstrap, settings.dlq_topic, "read_committed"))
    assert _offsets_seen(committed) == bad
    assert _repeated(committed) == {}


async def _produce(bootstrap: str, topic: str, camera: str, good: int, bad_every: int) -> list[int]:
    """`good` good reads into partition 0 of `topic`, a malformed message after
    every `bad_every`-th; returns the offsets of the malformed ones."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    bad: list[int] = []
    try:
        for i in range(good):
            await producer.send_and_wait(
                topic, orjson.dumps(wire_event(camera_id=camera)), key=b"k", partition=0
            )
            if i % bad_every == 0:
                sent = await producer.send_and_wait(
                    topic, b"not json %d" % i, key=b"k", partition=0
                )
                bad.append(sent.offset)
    finally:
        await producer.stop()
    return bad


async def _run_until(source: KafkaSource, done: Callable[[], bool]) -> None:
    """Run `source` until `done()` (or it ends by itself), then stop it; bounded.

    Past the deadline the failure names the source's counts, not its objects.
    """
    stop = asyncio.Event()
    task = asyncio.create_task(source.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_S
    try:
        while not (done() or task.done()):
            if loop.time() > deadline:
                counts = source.stats.summary()
                retrying = source.backoff.retrying
                raise AssertionError(f"not reached in {PATIENCE_S:.0f} s: {counts}, {retrying=}")
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, PATIENCE_S)


def _settled(stats: metrics.Stats) -> int:
    """Messages committed: stored, duplicates and dead letters."""
    return stats.stored + stats.duplicates + stats.dead_lettered


async def _committed(settings: IngestorSettings, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.kafka_group_id
    )
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(tp)
        return offset
    finally:
        await consumer.stop()


def _offsets_seen(letters: Counter[tuple[int, int]]) -> list[int]:
    return sorted(offset for _, offset in letters)


def _repeated(letters: Counter[tuple[int, int]]) -> dict[tuple[int, int], int]:
    return {origin: n for origin, n in letters.items() if n > 1}


async def _stored(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM plate_events WHERE camera_id = $1", camera)
    )
