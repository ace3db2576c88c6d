"""A message as every source hands it to the pipeline, and a dead letter.

Kafka records, HTTP body items and file records all become `Message`s. The
coordinates are Kafka's (topic, partition, offset, timestamp); the other
sources fill what fits: HTTP the item's index in the body as `offset`, a
file its name as `topic`, the record's number as `offset` and its line (or
item) number as `position`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

INVALID_EVENT: Final = "invalid_event"
ROW_REJECTED: Final = "row_rejected"
CONFLICTING_DUPLICATE: Final = "conflicting_duplicate"


class Parsed(NamedTuple):
    """A JSON value a format has already parsed: an item of a JSON array, a CSV row."""

    value: Any


class Message(NamedTuple):
    """One raw message and where it came from.

    `value` is the bytes as received (None: a Kafka tombstone) or a `Parsed`
    value. `position` is where a person finds it when that is not `offset`.
    A named tuple: one is made per message, and a frozen dataclass costs
    several times more to make.
    """

    value: bytes | Parsed | None
    key: bytes | None = None
    topic: str = ""
    partition: int = -1
    offset: int = -1
    timestamp_ms: int | None = None
    position: int = -1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be stored, and why (`code`: what kind of why)."""

    message: Message
    code: str
    reason: str
