"""The first step: a message becomes a `PlateEvent` or a `DeadLetter`, never an exception.

Bytes go through `schema.events.decode_event`, an already parsed value
through `event_from_dict`: the same validation, so a bad input gets the same
reason text whichever source brought it.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Final

from ingestor.pipeline.message import INVALID_EVENT, DeadLetter, Message, Parsed
from ingestor.pipeline.step import Step
from schema.errors import InvalidEvent
from schema.events import CaptureWindow, PlateEvent, decode_event, event_from_dict

Decoded = tuple[Message, PlateEvent | DeadLetter]
TOMBSTONE: Final = "message: empty (tombstone) message"


def decode(
    message: Message,
    naive_timezone: tzinfo | None = None,
    window: CaptureWindow | None = None,
) -> PlateEvent | DeadLetter:
    """Decode and validate one message; a failure becomes a dead letter with the reason."""
    value = message.value
    try:
        if isinstance(value, Parsed):
            return event_from_dict(value.value, naive_timezone=naive_timezone, window=window)
        if value is None:
            return DeadLetter(message, INVALID_EVENT, TOMBSTONE)
        return decode_event(value, naive_timezone=naive_timezone, window=window)
    except InvalidEvent as exc:
        return DeadLetter(message, INVALID_EVENT, str(exc))


class Decode:
    """The decoding step: hands each message on with what it decoded to.

    The sources pass their settings' zone for naive times and capture window;
    without a window any time is taken.
    """

    def __init__(
        self,
        next_step: Step[Decoded],
        naive_timezone: tzinfo | None = None,
        window: CaptureWindow | None = None,
    ) -> None:
        self.next_step = next_step
        self.naive_timezone = naive_timezone
        self.window = window

    def submit(self, message: Message) -> None:
        self.next_step.submit((message, decode(message, self.naive_timezone, self.window)))

    def poll(self) -> None:
        self.next_step.poll()

    async def join(self) -> None:
        await self.next_step.join()
