"""Dead letters: messages that can never be stored, sent to their own topic.

Each dead letter keeps the original key and bytes, and headers say why
(`reason`, `reason_code`) and where it came from (`original_topic`,
`original_partition`, `original_offset`, `original_timestamp`), so it can be
inspected, fixed and replayed. Offsets are committed only after the broker
acknowledged every dead letter of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ingestor.messages import DeadLetter

HEADER_REASON = "reason"
HEADER_CODE = "reason_code"


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


async def send_dead_letters(producer: Any, topic: str, letters: Sequence[DeadLetter]) -> None:
    """Send `letters` to `topic` and wait until the broker has them all."""
    if not letters:
        return
    acks = [
        await producer.send(
            topic,
            value=letter.message.value or b"",
            key=letter.message.key,
            headers=headers(letter),
        )
        for letter in letters
    ]
    await asyncio.gather(*acks)
