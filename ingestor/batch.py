"""The batching step: events accumulate until the batch is full or old enough.

A batch remembers, besides its events, the dead letters met while filling it
and the next offset of every partition it has seen: once the batch is
written and its dead letters are sent, exactly those offsets are committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingestor.messages import DeadLetter, Message
from schema.events import PlateEvent

Partition = tuple[str, int]


@dataclass
class Batch:
    """Events and dead letters of consecutive messages, with their offsets."""

    max_size: int
    max_age_s: float
    clock: Callable[[], float] = time.monotonic
    events: list[PlateEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[Partition, int] = field(default_factory=dict)
    first_offsets: dict[Partition, int] = field(default_factory=dict)
    # Kept to find a database-refused event's original message (by identity).
    _messages: dict[int, Message] = field(default_factory=dict)
    opened_at: float | None = None

    def add(self, message: Message, decoded: PlateEvent | DeadLetter) -> None:
        """Add one decoded message; the age clock starts with the first."""
        if self.opened_at is None:
            self.opened_at = self.clock()
        if isinstance(decoded, DeadLetter):
            self.dead.append(decoded)
        else:
            self.events.append(decoded)
            self._messages[id(decoded)] = message
        if message.offset >= 0:
            partition = (message.topic, message.partition)
            self.first_offsets.setdefault(partition, message.offset)
            self.next_offsets[partition] = message.offset + 1

    def message_of(self, event: PlateEvent) -> Message:
        """The message `event` was decoded from."""
        return self._messages.get(id(event), Message(None))

    def __len__(self) -> int:
        return len(self.events) + len(self.dead)

    @property
    def room(self) -> int:
        """How many more messages fit."""
        return max(self.max_size - len(self), 0)

    def age_left_s(self) -> float:
        """Seconds until the batch is due by age (the full age when empty)."""
        if self.opened_at is None:
            return self.max_age_s
        return max(self.opened_at + self.max_age_s - self.clock(), 0.0)

    def due(self) -> bool:
        """Full, or holding something for longer than the maximum age."""
        return len(self) >= self.max_size or (len(self) > 0 and self.age_left_s() == 0.0)

    def fresh(self) -> Batch:
        """An empty batch with the same limits."""
        return Batch(self.max_size, self.max_age_s, self.clock)
