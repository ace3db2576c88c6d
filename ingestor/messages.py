"""A message as every source hands it to the pipeline, and what decoding makes of it.

Kafka records, HTTP body items and file lines all become `Message`s; the
coordinates (topic, partition, offset, timestamp) are Kafka's and stay at
their defaults for the other sources. `decode` is the pipeline's first step:
a message becomes a `PlateEvent` or a `DeadLetter` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from schema.errors import InvalidEvent
from schema.events import PlateEvent, decode_event


@dataclass(frozen=True, slots=True)
class Message:
    """One raw message and where it came from."""

    value: bytes | None
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be stored, and why (`code`: what kind of why)."""

    message: Message
    code: str
    reason: str


INVALID_EVENT = "invalid_event"
ROW_REJECTED = "row_rejected"


def decode(message: Message, naive_timezone: tzinfo | None = None) -> PlateEvent | DeadLetter:
    """Decode and validate one message; a failure becomes a dead letter, never an exception."""
    if message.value is None:
        return DeadLetter(message, INVALID_EVENT, "message: empty (tombstone) message")
    try:
        return decode_event(message.value, naive_timezone=naive_timezone)
    except InvalidEvent as exc:
        return DeadLetter(message, INVALID_EVENT, str(exc))
