"""The pipeline's steps one by one, with stand-ins for the database and the broker."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from ingestor import metrics
from ingestor.pipeline.batch import Batch, Batcher
from ingestor.pipeline.decode import TOMBSTONE, Decode, decode
from ingestor.pipeline.message import INVALID_EVENT, DeadLetter, Message, Parsed
from ingestor.pipeline.retry import Backoff
from ingestor.pipeline.step import MessageRejected, feed
from ingestor.pipeline.write import Write, Written
from ingestor.sources.files import messages as file_messages
from ingestor.writer import WriteResult
from schema.errors import BrokerUnavailable, StorageError, StorageUnavailable
from schema.events import PlateEvent
from tests.factories import DELETE, wire_event


class Steps:
    """The step after the one under test: records what it is handed; refuses when full."""

    def __init__(self, room: int = 1_000_000) -> None:
        self.items: list[object] = []
        self.room = room
        self.joined = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def submit(self, item: object) -> None:
        if len(self.items) >= self.room:
            raise MessageRejected(self.ready)
        self.items.append(item)

    def poll(self) -> None:
        pass

    async def join(self) -> None:
        self.joined += 1


def _message(offset: int, value: bytes | None = None, partition: int = 0) -> Message:
    body = value if value is not None else orjson.dumps(wire_event())
    return Message(body, b"k", "t", partition, offset, 1_700_000_000_000)


# decode


BAD_ITEMS = [
    wire_event(plate__confidence=7),
    wire_event(plate__text=DELETE),
    wire_event(captured_at="2026-11-27T10:00:00"),
    wire_event(camera_id="c" * 51),
    [1, 2],
    "a string",
]


@pytest.mark.parametrize("item", BAD_ITEMS)
def test_parsed_and_raw_items_get_the_same_reason(item: object) -> None:
    raw = decode(Message(orjson.dumps(item)))
    parsed = decode(Message(Parsed(item)))
    assert isinstance(raw, DeadLetter) and isinstance(parsed, DeadLetter)
    assert (raw.code, raw.reason) == (parsed.code, parsed.reason)
    assert raw.code == INVALID_EVENT


def test_tombstone_and_good_parsed_item() -> None:
    tombstone = decode(Message(None))
    assert isinstance(tombstone, DeadLetter) and tombstone.reason == TOMBSTONE
    event = decode(Message(Parsed(wire_event(camera_id="cam-p"))))
    assert isinstance(event, PlateEvent) and event.camera_id == "cam-p"


async def test_decode_step_hands_on_message_and_result() -> None:
    after = Steps()
    step = Decode(after)
    message = _message(3, b"{bad")
    step.submit(message)
    [(handed, decoded)] = after.items  # type: ignore[misc]
    assert handed is message and isinstance(decoded, DeadLetter)


# batch


async def test_batcher_hands_on_full_batches_and_the_rest_at_join() -> None:
    after = Steps()
    batcher = Batcher(after, max_size=3)
    for i in range(7):
        batcher.submit((_message(i), decode(_message(i))))
    assert [len(b) for b in after.items] == [3, 3]  # type: ignore[arg-type]
    await batcher.join()
    assert [len(b) for b in after.items] == [3, 3, 1]  # type: ignore[arg-type]
    assert after.joined == 1
    last = after.items[-1]
    assert isinstance(last, Batch) and last.next_offsets == {("t", 0): 7}


async def test_batcher_keeps_a_refused_batch_and_refuses_more() -> None:
    after = Steps(room=1)
    batcher = Batcher(after, max_size=2)
    for i in range(4):  # the second batch fills, but the next step is full
        batcher.submit((_message(i), decode(_message(i))))
    with pytest.raises(MessageRejected) as refused:
        batcher.submit((_message(4), decode(_message(4))))
    assert refused.value.ready is after.ready
    assert len(after.items) == 1 and len(batcher.batch) == 2
    after.room = 2
    batcher.poll()  # room again: the full batch goes on
    assert len(after.items) == 2 and len(batcher.batch) == 0
    batcher.submit((_message(4), decode(_message(4))))


async def test_batcher_hands_on_by_age_at_poll() -> None:
    now = [100.0]
    after = Steps()
    batcher = Batcher(after, max_size=100, max_age_s=0.2, clock=lambda: now[0])
    batcher.poll()
    assert after.items == []  # empty: never due
    batcher.submit((_message(0), decode(_message(0))))
    now[0] += 0.15
    batcher.poll()
    assert after.items == [] and batcher.age_left_s() == pytest.approx(0.05)
    now[0] += 0.06
    batcher.poll()
    assert len(after.items) == 1


# write


def _batch(*offsets: int, dead: Sequence[int] = ()) -> Batch:
    batch = Batch(max_size=100, max_age_s=1)
    for offset in offsets:
        message = _message(offset, b"{bad" if offset in dead else None)
        batch.add(message, decode(message))
    return batch


class Fakes:
    """A store, a dead-letter sink and a commit that record the order of things."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.delays: dict[int, float] = {}
        self.failures: dict[int, list[Exception]] = {}
        self.commit_failures: dict[int, list[Exception]] = {}
        self.delivered: list[DeadLetter] = []

    def first(self, batch: Batch) -> int:
        return min(batch.first_offsets.values())

    async def store(self, batch: Batch) -> Written:
        first = self.first(batch)
        await asyncio.sleep(self.delays.get(first, 0))
        if self.failures.get(first):
            raise self.failures[first].pop(0)
        self.log.append(f"stored {first}")
        return Written(batch, WriteResult(stored=len(batch.events)), list(batch.dead))

    async def deliver(self, letters: Sequence[DeadLetter]) -> None:
        self.delivered.extend(letters)

    async def commit(self, written: Written) -> None:
        first = self.first(written.batch)
        if self.commit_failures.get(first):
            self.log.append(f"commit failed {first}")
            raise self.commit_failures[first].pop(0)
        self.log.append(f"committed {first}")

    def write(
        self, writers: int = 2, backoff: Backoff | None = None, deliver: bool = True
    ) -> Write:
        stats = metrics.Stats()
        return Write(
            self.store,
            self.deliver if deliver else None,
            self.commit,
            stats,
            "unit",
            writers=writers,
            backoff=backoff,
        )


async def test_write_commits_in_read_order() -> None:
    fakes = Fakes()
    fakes.delays = {0: 0.05, 10: 0.0}
    write = fakes.write(writers=2)
    write.submit(_batch(0, 1, dead=[1]))
    write.submit(_batch(10, 11))
    await write.join()
    # The second batch is stored first, but committed after the first.
    assert fakes.log == ["stored 10", "stored 0", "committed 0", "committed 10"]
    assert [d.message.offset for d in fakes.delivered] == [1]
    assert write.take_dropped() == []


async def test_write_refuses_beyond_its_writers() -> None:
    fakes = Fakes()
    fakes.delays = {0: 0.05}
    write = fakes.write(writers=1)
    write.submit(_batch(0))
    with pytest.raises(MessageRejected) as refused:
        write.submit(_batch(10))
    await asyncio.wait([refused.value.ready])
    write.submit(_batch(10))  # the first is done: room again
    await write.join()
    assert fakes.log == ["stored 0", "committed 0", "stored 10", "committed 10"]


async def test_write_retries_an_outage() -> None:
    fakes = Fakes()
    fakes.failures = {0: [StorageUnavailable("down"), StorageUnavailable("still down")]}
    backoff = Backoff(max_backoff_s=0.2)
    write = fakes.write(backoff=backoff)
    write.submit(_batch(0))
    await asyncio.sleep(0.05)
    assert backoff.retrying  # what the Kafka source pauses for
    await write.join()
    assert fakes.log == ["stored 0", "committed 0"]
    assert not backoff.retrying


async def test_given_up_batch_and_every_later_one_stay_uncommitted() -> None:
    fakes = Fakes()
    fakes.failures = {0: [StorageUnavailable("down")] * 1000}
    backoff = Backoff(max_backoff_s=0.01)
    write = fakes.write(writers=2, backoff=backoff)
    first, second = _batch(0, 1), _batch(2, 3)
    write.submit(first)
    write.submit(second)
    await asyncio.sleep(0.05)  # retrying
    backoff.give_up_after(0.0)
    await write.join()
    assert fakes.log == ["stored 2"]  # stored, never committed: it would pass the first
    assert write.take_dropped() == [first, second]
    assert write.take_dropped() == []
    backoff.keep_trying()
    write.submit(_batch(2, 3))  # read again after the rewind: committed now
    await write.join()
    assert fakes.log[-1] == "committed 2"


async def test_a_commit_carrying_the_letters_is_retried_in_read_order() -> None:
    # The Kafka source's shape: no delivery of its own, the commit's transaction
    # carries the dead letters; a broker outage fails the commit, not the store.
    fakes = Fakes()
    fakes.commit_failures = {0: [BrokerUnavailable("away"), BrokerUnavailable("still away")]}
    backoff = Backoff(max_backoff_s=0.01)
    write = fakes.write(writers=2, backoff=backoff, deliver=False)
    write.submit(_batch(0, 1, dead=[1]))
    write.submit(_batch(10, 11))
    await write.join()
    assert [entry for entry in fakes.log if entry.startswith("commit")] == [
        "commit failed 0",
        "commit failed 0",
        "committed 0",
        "committed 10",  # waited for the first, retries and all
    ]
    assert fakes.delivered == []
    assert write.take_dropped() == []
    assert write.stats.dead_lettered == 1  # counted once, when committed


async def test_a_commit_given_up_leaves_its_batch_and_the_later_ones_uncommitted() -> None:
    fakes = Fakes()
    fakes.commit_failures = {0: [BrokerUnavailable("away")] * 1000}
    backoff = Backoff(max_backoff_s=0.01)
    write = fakes.write(writers=2, backoff=backoff, deliver=False)
    first, second = _batch(0, 1, dead=[1]), _batch(2, 3)
    write.submit(first)
    write.submit(second)
    await asyncio.sleep(0.05)
    backoff.give_up_after(0.0)
    await write.join()
    assert "committed 0" not in fakes.log and "committed 2" not in fakes.log
    assert write.take_dropped() == [first, second]
    assert (write.stats.batches, write.stats.dead_lettered) == (0, 0)


async def test_a_batch_submitted_after_a_given_up_one_finished_stays_uncommitted() -> None:
    # The given-up batch is no longer in flight when the next one comes (a
    # stop or revocation feeding what was held): the next must still not
    # commit, or its offsets would pass the given-up batch and its letters.
    fakes = Fakes()
    fakes.commit_failures = {0: [BrokerUnavailable("away")] * 1000}
    backoff = Backoff(max_backoff_s=0.01)
    write = fakes.write(writers=1, backoff=backoff, deliver=False)
    first, second = _batch(0, 1, dead=[1]), _batch(2, 3)
    write.submit(first)
    await asyncio.sleep(0.05)
    backoff.give_up_after(0.0)
    await write.join()  # the first is given up and done
    write.submit(second)  # the broker is back for it
    await write.join()
    assert [entry for entry in fakes.log if entry.startswith("committed")] == []
    assert write.take_dropped() == [first, second]
    backoff.keep_trying()
    fakes.commit_failures = {}
    write.submit(_batch(0, 1, dead=[1]))  # read again after the rewind
    await write.join()
    assert fakes.log[-1] == "committed 0"


async def test_give_up_wakes_a_long_backoff_at_once() -> None:
    fakes = Fakes()
    fakes.failures = {0: [StorageUnavailable("down")] * 1000}
    backoff = Backoff(max_backoff_s=60)
    write = fakes.write(backoff=backoff)
    write.submit(_batch(0))
    await asyncio.sleep(0.3)  # now sleeping between attempts
    backoff.give_up_after(0.0)
    await asyncio.wait_for(write.join(), 2)
    assert write.take_dropped() and fakes.log == []


async def test_without_backoff_an_outage_fails_the_step_and_stays() -> None:
    fakes = Fakes()
    fakes.failures = {0: [StorageUnavailable("down")]}
    write = fakes.write()
    write.submit(_batch(0))
    with pytest.raises(StorageUnavailable):
        await write.join()
    with pytest.raises(StorageUnavailable):  # sticky: whoever looks next sees it too
        write.poll()
    with pytest.raises(StorageUnavailable):
        write.submit(_batch(10))


async def test_other_errors_are_not_retried() -> None:
    fakes = Fakes()
    fakes.failures = {0: [StorageError("broken")]}
    write = fakes.write(backoff=Backoff(max_backoff_s=0.01))
    write.submit(_batch(0))
    with pytest.raises(StorageError):
        await write.join()


async def test_feed_runs_a_whole_pipeline_in_order() -> None:
    fakes = Fakes()
    write = fakes.write(writers=1)
    pipeline = Decode(Batcher(write, max_size=4))
    items = [_message(i, b"{bad" if i % 5 == 0 else None) for i in range(10)]
    assert await feed(pipeline, items) == 10
    assert fakes.log == [
        "stored 0",
        "committed 0",
        "stored 4",
        "committed 4",
        "stored 8",
        "committed 8",
    ]
    assert [d.message.offset for d in fakes.delivered] == [0, 5]


# sources' receiving ends


def test_file_records_become_messages_without_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "reads.ndjson.gz"
    with gzip.open(path, "wb") as f:
        f.write(b'{"a": 1}\r\n\n{"event_id": "broken\n{"b": 2}\n')
    got = list(file_messages(path))
    assert [m.value for m in got] == [b'{"a": 1}', b'{"event_id": "broken', b'{"b": 2}']
    assert [(m.offset, m.position) for m in got] == [(0, 1), (1, 3), (2, 4)]
    assert {m.topic for m in got} == {"reads.ndjson.gz"}
    assert [m.offset for m in file_messages(path, skip=2)] == [2]


class _SlowSteps(Steps):
    """Each item costs CPU time, as decoding a bad message does."""

    def submit(self, item: object) -> None:
        until = time.perf_counter() + 0.0002
        while time.perf_counter() < until:
            pass
        super().submit(item)


@pytest.mark.parametrize("slice_s", [None, 0.005])
async def test_feed_gives_the_loop_back_when_asked(slice_s: float | None) -> None:
    ticks = 0

    async def other_request() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_request())
    await asyncio.sleep(0)
    ticks = 0
    step = _SlowSteps()
    assert await feed(step, range(1000), slice_s=slice_s) == 1000  # about 0.2 s of work
    other.cancel()
    assert len(step.items) == 1000 and step.joined == 1
    if slice_s is None:
        assert ticks <= 1  # held the loop throughout
    else:
        assert ticks >= 10  # at most every 5 ms (and 64 items)
