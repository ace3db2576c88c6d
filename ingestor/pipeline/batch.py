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
    # The message of each event, in step with `events`: a database-refused
    # event becomes a dead letter of its original message.
    _messages: list[Message] = field(default_factory=list)
    opened_at: float | None = None
    count: int = 0  # events and dead letters

    def add(self, message: Message, decoded: PlateEvent | DeadLetter) -> None:
        """Add one decoded message; the age clock starts with the first."""
        if self.opened_at is None:
            self.opened_at = self.clock()
        if isinstance(decoded, DeadLetter):
            self.dead.append(decoded)
        else:
            self.events.append(decoded)
            self._messages.append(message)
        self.count += 1
        if message.offset >= 0:
            partition = (message.topic, message.partition)
            self.first_offsets.setdefault(partition, message.offset)
            self.next_offsets[partition] = message.offset + 1

    def message_of(self, event: PlateEvent) -> Message:
        """The message `event` was decoded from (a scan: refused rows are rare)."""
        for candidate, message in zip(self.events, self._messages, strict=True):
            if candidate is event:
                return message
        return Message(None)

    def __len__(self) -> int:
        return self.count

    @property
    def room(self) -> int:
        """How many more messages fit."""
        return max(self.max_size - self.count, 0)

    def age_left_s(self) -> float:
        """Seconds until the batch is due by age (the full age when empty)."""
        if self.opened_at is None:
            return self.max_age_s
        return max(self.opened_at + self.max_age_s - self.clock(), 0.0)

    def due(self) -> bool:
        """Full, or holding something for longer than the maximum age."""
        return self.count >= self.max_size or (self.count > 0 and self.age_left_s() == 0.0)

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
        if batch.count >= batch.max_size:
            self._hand_on()  # raises MessageRejected while the next step is full
            batch = self.batch
        batch.add(*item)
        if batch.count >= batch.max_size:
            try:
                self._hand_on()
            except MessageRejected:
                pass  # kept; handed on by a later submit or poll

    def poll(self) -> None:
        self.next_step.poll()
        if self.batch.due():
            self._hand_on()

    async def join(self) -> None:
        while self.batch.count:
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
