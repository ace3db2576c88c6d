"""The Kafka source's consumer and producers, as configured (no broker needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from ingestor import metrics
from ingestor.sources.kafka import REVOKE_GRACE_S, KafkaSource
from tests.factories import kafka_ingestor_settings


@pytest.fixture
async def source() -> AsyncIterator[Callable[[str], KafkaSource]]:
    """Makes sources of a group (never started; their consumers closed after the test)."""
    made: list[KafkaSource] = []

    def make(group: str) -> KafkaSource:
        settings = kafka_ingestor_settings(
            "postgresql://unused", "127.0.0.1:1", "reads", kafka_group_id=group
        )
        pool: Any = None  # never used: nothing is written
        made.append(KafkaSource(settings, pool, metrics.Stats()))
        return made[-1]

    yield make
    for s in made:
        await s.consumer.stop()


async def test_the_group_waits_out_a_revocation_settling_through_an_outage(
    source: Callable[[str], KafkaSource],
) -> None:
    # A member revoking during an outage rejoins after its grace, then the last
    # attempt of a write and of a Kafka transaction (each bounded); evicted
    # before that, its partitions would be read by another while it commits.
    one = source("g")
    rebalance_s = one.consumer._rebalance_timeout_ms / 1000  # aiokafka keeps it here
    assert rebalance_s >= REVOKE_GRACE_S + 2 * one.transactions.bound_s
    assert rebalance_s > one.consumer._session_timeout_ms / 1000


async def test_the_consumer_reads_committed_data_only(
    source: Callable[[str], KafkaSource],
) -> None:
    assert source("g").consumer._isolation_level == "read_committed"


async def test_every_process_of_a_group_commits_a_partition_under_one_transactional_id(
    source: Callable[[str], KafkaSource],
) -> None:
    # The id is the fencing unit: two processes (or one restarted) derive it alike.
    tp = TopicPartition("reads", 3)
    one, other, elsewhere = source("g"), source("g"), source("h")
    assert one.transactions.transactional_id(tp) == other.transactions.transactional_id(tp)
    assert one.transactions.transactional_id(tp) != one.transactions.transactional_id(
        TopicPartition("reads", 4)
    )
    assert one.transactions.transactional_id(tp) != elsewhere.transactions.transactional_id(tp)
