"""The lag probe against a stand-in consumer: what it asks the broker, what it
counts from, what it forgets (no broker needed; tests/integration/test_ingest_lag.py
runs it on a real one)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import TopicPartition
from prometheus_client import REGISTRY

from ingestor.metrics import Stats
from ingestor.sources.kafka_lag import LagProbe

TOPIC = "lag-unit"
P0, P1, P2 = (TopicPartition(TOPIC, p) for p in range(3))


class Consumer:
    """Answers `position` and `end_offsets` as a consumer would; counts the broker requests."""

    def __init__(self, ends: dict[TopicPartition, int], positions: dict[TopicPartition, int]):
        self.ends = ends
        self.positions = positions
        self.requests: list[list[TopicPartition]] = []
        self.answer = asyncio.Event()
        self.answer.set()
        self.fail: Exception | None = None

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.requests.append(list(partitions))
        await self.answer.wait()
        if self.fail is not None:
            raise self.fail
        return {tp: self.ends[tp] for tp in partitions}


def _probe(consumer: Consumer) -> tuple[LagProbe, Stats]:
    stats = Stats()
    return LagProbe(cast(Any, consumer), stats, interval_s=1.0), stats


def _gauge(partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "alpr_ingest_consumer_lag", {"topic": TOPIC, "partition": str(partition)}
    )


def _lags(stats: Stats) -> dict[int, int]:
    return {part: lag.lag for (_, part), lag in stats.lags.items()}


async def test_one_request_measures_every_assigned_partition_when_it_was_asked() -> None:
    consumer = Consumer({P0: 10, P1: 20, P2: 30}, {P0: 10, P1: 15, P2: 0})
    probe, stats = _probe(consumer)
    probe.assigned({P0, P1, P2})
    before = datetime.now(UTC)
    await probe.measure()
    assert consumer.requests == [[P0, P1, P2]]
    assert _lags(stats) == {0: 0, 1: 5, 2: 30}
    assert all(before <= lag.measured_at <= datetime.now(UTC) for lag in stats.lags.values())
    assert (_gauge(0), _gauge(1), _gauge(2)) == (0, 5, 30)


async def test_lag_counts_from_the_first_offset_not_yet_committed() -> None:
    # Positions run ahead of what is stored: read, held, or being written.
    consumer = Consumer({P0: 100, P1: 100, P2: 100}, {P0: 90, P1: 90, P2: 90})
    probe, stats = _probe(consumer)
    probe.assigned({P0, P1, P2})
    probe.read(P0, 20)
    probe.committed({P0: 60})
    probe.read(P0, 70)  # read after the commit: still counted from 60
    probe.read(P1, 30)
    await probe.measure()
    assert _lags(stats) == {0: 40, 1: 70, 2: 10}  # P2: nothing read, counted from its position


async def test_revoked_partitions_leave_the_gauge_and_the_report() -> None:
    consumer = Consumer({P0: 5, P1: 7, P2: 9}, {P0: 0, P1: 0, P2: 0})
    probe, stats = _probe(consumer)
    probe.assigned({P0, P1, P2})
    await probe.measure()
    probe.revoked({P1})
    assert _lags(stats) == {0: 5, 2: 9} and _gauge(1) is None
    probe.assigned({P0})  # a new assignment without P2
    assert _lags(stats) == {0: 5} and _gauge(2) is None
    await probe.measure()
    assert consumer.requests[-1] == [P0]


async def test_a_round_that_spans_a_rebalance_records_nothing() -> None:
    consumer = Consumer({P0: 5, P1: 7}, {P0: 0, P1: 0})
    probe, stats = _probe(consumer)
    probe.assigned({P0, P1})
    consumer.answer.clear()
    round_ = asyncio.create_task(probe.measure())
    await asyncio.sleep(0.01)
    probe.revoked({P1})
    consumer.answer.set()
    await round_
    assert stats.lags == {}


async def test_the_broker_away_leaves_the_last_values_standing() -> None:
    consumer = Consumer({P0: 5}, {P0: 0})
    probe, stats = _probe(consumer)
    probe.assigned({P0})
    await probe.measure()
    measured = stats.lags[(TOPIC, 0)]
    consumer.ends[P0] = 50
    consumer.fail = KafkaTimeoutError()
    await probe.measure()  # given up, not raised
    assert stats.lags[(TOPIC, 0)] == measured
    consumer.fail = None
    await probe.measure()
    assert (
        stats.lags[(TOPIC, 0)].lag == 50
        and stats.lags[(TOPIC, 0)].measured_at > measured.measured_at
    )
