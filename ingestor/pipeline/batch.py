"""The batching step: decoded messages collect until the batch is full or old enough.

A batch remembers, besides its events, the dead letters met while filling it
and the first and next offset of every partition it has seen: once the batch
is written and its dead letters are delivered, exactly those offsets are
committed (or, if it is given up, read again from the first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingestor.pipeline.decode import Decoded
from ingestor.pipeline.message import DeadLetter, Message
from ingestor.pipeline.step import MessageRejected, Step
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


class Batcher:
    """The batching step: hands each batch on whole, when it is due.

    A full batch the next step refuses stays here, and the batcher refuses
    the next message until it has handed the batch on.
    """

    def __init__(
        self,
        next_step: Step[Batch],
        max_size: int,
        max_age_s: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.next_step = next_step
        self.batch = Batch(max_size, max_age_s, clock)

    def submit(self, item: Decoded) -> None:
        batch = self.batch
        if len(batch) >= batch.max_size:
            self._hand_on()  # raises MessageRejected while the next step is full
            batch = self.batch
        batch.add(*item)
        if len(batch) >= batch.max_size:
            try:
                self._hand_on()
            except MessageRejected:
                pass  # kept; handed on by a later submit or poll

    def poll(self) -> None:
        self.next_step.poll()
        if self.batch.due():
            self._hand_on()

    async def join(self) -> None:
        while len(self.batch):
            try:
                self._hand_on()
            except MessageRejected as exc:
                await asyncio.wait([exc.ready])
        await self.next_step.join()

    def age_left_s(self) -> float:
        """Seconds until the batch in hand is due by age."""
        return self.batch.age_left_s()

    def _hand_on(self) -> None:
        self.next_step.submit(self.batch)
        self.batch = self.batch.fresh()
