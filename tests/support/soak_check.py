"""The soak's verdict: what the topic holds against what was stored and dead-lettered.

The source topic, read whole from the beginning, is the truth: every good
read in it must be in `plate_events` exactly once and nothing else may be
there; every malformed record in it (known by its `bad:<kind>:<n>` key)
must be in the dead-letter topic exactly once, pointing back at its
partition and offset, with its original key and bytes and a `reason` that
names the problem. The dead-letter topic is read whole by a fresh consumer
outside any group. Rollups are compared with their recomputation from the
reads (`tests/integration/rollup_checks.py`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.integration.rollup_checks import recomputed_mismatches
from tests.support.soak_traffic import MALFORMED_BY_KIND, kind_of

Coordinates = tuple[int, int]  # (partition, offset)


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


async def read_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    timeout_s: float = 300.0,
    isolation: str = "read_uncommitted",
) -> list[Record]:
    """Every record of `topic` (of `partitions` partitions), from the beginning to its end.

    `read_committed`: only records of committed transactions, once no
    transaction is open on the topic (one left open by a process that died
    is ended by the broker after its timeout).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + timeout_s
        ends = await _stable_ends(bootstrap, consumer, tps, deadline)
        out: list[Record] = []
        while not await _at_ends(consumer, ends):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s:.0f}s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                out += [
                    Record(
                        tp.partition,
                        r.offset,
                        r.timestamp,
                        r.key,
                        r.value,
                        {k: v.decode(errors="replace") for k, v in r.headers},
                    )
                    for r in records
                    if r.offset < ends[tp]
                ]
        return out
    finally:
        await consumer.stop()


async def _stable_ends(
    bootstrap: str, consumer: AIOKafkaConsumer, tps: list[TopicPartition], deadline: float
) -> dict[TopicPartition, int]:
    """`consumer`'s end offsets once they equal the high watermarks (no open transaction)."""
    peek = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await peek.start()
    try:
        while (ends := await consumer.end_offsets(tps)) != await peek.end_offsets(tps):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"a transaction stayed open on {tps[0].topic}")
            await asyncio.sleep(0.5)
        return dict(ends)
    finally:
        await peek.stop()


async def _at_ends(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def group_lag(
    bootstrap: str, group: str, topic: str, partitions: int
) -> dict[int, tuple[int, int]]:
    """Per partition of `topic`: (committed offset of `group`, end offset); -1: none committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        return {
            tp.partition: (committed[tp].offset if tp in committed else -1, ends[tp]) for tp in tps
        }
    finally:
        await consumer.stop()
        await admin.close()


@dataclass
class Truth:
    """What the source topic holds."""

    good: Counter[str] = field(default_factory=Counter)  # event id -> records carrying it
    bad: dict[Coordinates, Record] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[Record]) -> Truth:
        truth = cls()
        for r in records:
            if kind_of(r.key) is None:
                assert r.value is not None
                truth.good[str(orjson.loads(r.value)["event_id"])] += 1
            else:
                truth.bad[(r.partition, r.offset)] = r
        return truth


@dataclass
class ReadsVerdict:
    """Good reads in the topic against rows in plate_events."""

    in_topic: int  # distinct event ids
    topic_repeats: int  # records carrying an event id seen before (producer retries)
    rows: int
    lost: list[str]
    doubled: dict[str, int]  # event id -> rows
    unexpected: list[str]

    @property
    def extra_rows(self) -> int:
        return sum(n - 1 for n in self.doubled.values())


async def check_reads(pool: asyncpg.Pool[Any], truth: Truth) -> ReadsVerdict:
    rows = await pool.fetch(
        "SELECT event_id::text AS id, count(*) AS n FROM plate_events GROUP BY 1"
    )
    stored = {row["id"]: int(row["n"]) for row in rows}
    return ReadsVerdict(
        in_topic=len(truth.good),
        topic_repeats=sum(truth.good.values()) - len(truth.good),
        rows=sum(stored.values()),
        lost=sorted(set(truth.good) - set(stored)),
        doubled={i: n for i, n in stored.items() if n > 1},
        unexpected=sorted(set(stored) - set(truth.good)),
    )


@dataclass
class Letter:
    """One dead letter and what is wrong with it, if anything."""

    record: Record
    origin: Coordinates | None
    problems: list[str]


@dataclass
class LettersVerdict:
    """Malformed records in the topic against letters in the dead-letter topic."""

    expected: int
    letters: int
    by_kind: Counter[str]  # malformed records in the topic, by kind
    missing: list[tuple[Coordinates, str]]  # (origin, kind)
    repeated: dict[Coordinates, list[Record]]  # origin -> its letters, when more than one
    unexpected: list[Letter]  # letters for no malformed record
    wrong: list[Letter]  # letters with a wrong reason, key, value or origin header

    @property
    def extra_letters(self) -> int:
        return sum(len(letters) - 1 for letters in self.repeated.values())


def check_letters(truth: Truth, letters: list[Record], topic: str) -> LettersVerdict:
    judged = [_judge(letter, truth, topic) for letter in letters]
    by_origin: dict[Coordinates, list[Record]] = {}
    for letter in judged:
        if letter.origin is not None and letter.origin in truth.bad:
            by_origin.setdefault(letter.origin, []).append(letter.record)
    return LettersVerdict(
        expected=len(truth.bad),
        letters=len(letters),
        by_kind=Counter(str(kind_of(r.key)) for r in truth.bad.values()),
        missing=[
            (o, str(kind_of(r.key))) for o, r in sorted(truth.bad.items()) if o not in by_origin
        ],
        repeated={o: rs for o, rs in sorted(by_origin.items()) if len(rs) > 1},
        unexpected=[j for j in judged if j.origin is None or j.origin not in truth.bad],
        wrong=[j for j in judged if j.problems],
    )


def letter_origin(letter: Record) -> Coordinates | None:
    """The (partition, offset) a dead letter's headers name; None without them."""
    try:
        return (int(letter.headers["original_partition"]), int(letter.headers["original_offset"]))
    except (KeyError, ValueError):
        return None


def _judge(letter: Record, truth: Truth, topic: str) -> Letter:
    h = letter.headers
    problems: list[str] = []
    origin = letter_origin(letter)
    if origin is None:
        return Letter(letter, None, ["no original_partition/original_offset header"])
    if h.get("original_topic") != topic:
        problems.append(f"original_topic {h.get('original_topic')!r}")
    source = truth.bad.get(origin)
    if source is None:
        return Letter(letter, origin, problems)
    kind = str(kind_of(source.key))
    reason = MALFORMED_BY_KIND[kind].reason
    if reason not in h.get("reason", ""):
        problems.append(f"reason {h.get('reason')!r} does not say {reason!r}")
    if h.get("reason_code") != "invalid_event":
        problems.append(f"reason_code {h.get('reason_code')!r}")
    if letter.key != source.key:
        problems.append(f"key {letter.key!r} is not the original {source.key!r}")
    if (letter.value or b"") != (source.value or b""):
        problems.append("value is not the original bytes")
    return Letter(letter, origin, problems)


async def check_rollups(pool: asyncpg.Pool[Any]) -> dict[str, list[str]]:
    """Table -> keys that differ from the recomputation; only tables with differences."""
    return {name: keys for name, keys in (await recomputed_mismatches(pool)).items() if keys}
