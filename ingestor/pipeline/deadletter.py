"""Where Kafka's dead letters go: the dead-letter topic.

Kafka: each dead letter keeps the original key and bytes, and headers say
why (`reason`, `reason_code`) and where it came from (`original_topic`,
`original_partition`, `original_offset`, `original_timestamp`), so it can be
inspected, fixed and replayed. `KafkaDeadLetters` returns once the broker
acknowledged every one, so a batch is committed only after its dead letters
are safe. HTTP and file import deliver theirs to sinks of their own (the
answer's rejections, the rejects file), with the same `Deliver` contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

from aiokafka.errors import KafkaError

from ingestor.pipeline.message import DeadLetter
from schema.errors import BrokerUnavailable

HEADER_REASON: Final = "reason"
HEADER_CODE: Final = "reason_code"


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


class KafkaDeadLetters:
    """Sends dead letters to `topic` with `producer` (an started AIOKafkaProducer)."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        """Send `letters` and wait for the broker's acks; `BrokerUnavailable` if it is away."""
        if not letters:
            return
        try:
            acks = [
                await self.producer.send(
                    self.topic,
                    value=letter.message.value or b"",
                    key=letter.message.key,
                    headers=headers(letter),
                )
                for letter in letters
            ]
            await asyncio.gather(*acks)
        except KafkaError as exc:
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
