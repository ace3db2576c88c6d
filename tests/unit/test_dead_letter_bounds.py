"""A call into aiokafka, bounded (KafkaTransactions) or not (the consumer's
start): what the broker's absence looks like from aiokafka becomes
BrokerUnavailable (the source pauses and retries), anything else stays what
it is (the source stops)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiokafka
import pytest
from aiokafka.errors import KafkaConnectionError

from ingestor.pipeline.deadletter import NO_BROKER_KNOWN, KafkaTransactions
from ingestor.sources.kafka import _broker_call
from schema.errors import BrokerUnavailable


def _transactions() -> KafkaTransactions:
    async def committed(_: object) -> int | None:
        return None

    return KafkaTransactions("127.0.0.1:1", "dead", "group", committed, bound_s=0.05)


async def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [KafkaConnectionError("closed"), AssertionError(NO_BROKER_KNOWN)],
    ids=["connection", "no broker known"],
)
async def test_the_broker_away_is_unavailable(exc: BaseException) -> None:
    with pytest.raises(BrokerUnavailable):
        await _transactions()._bounded(_raise(exc))


@pytest.mark.parametrize(
    "exc",
    [KafkaConnectionError("closed"), AssertionError(NO_BROKER_KNOWN)],
    ids=["connection", "no broker known"],
)
async def test_the_consumer_start_sees_the_same_outages(exc: BaseException) -> None:
    with pytest.raises(BrokerUnavailable):
        await _broker_call(_raise(exc))


async def test_no_answer_within_the_bound_is_unavailable() -> None:
    with pytest.raises(BrokerUnavailable, match="no answer"):
        await _transactions()._bounded(asyncio.sleep(1))


async def test_another_assertion_is_not_an_outage() -> None:
    with pytest.raises(AssertionError, match="something else"):
        await _transactions()._bounded(_raise(AssertionError("something else")))
    with pytest.raises(AssertionError, match="something else"):
        await _broker_call(_raise(AssertionError("something else")))


def test_the_installed_aiokafka_still_asserts_so() -> None:
    """The message matched is the one aiokafka's coordinator lookup asserts."""
    client = Path(aiokafka.__file__).parent / "client.py"
    assert f'assert node_id is not None, "{NO_BROKER_KNOWN}"' in client.read_text()
