"""Publishing plate events to Kafka, for upstream pipelines, demos and tests.

Events are sent in the nested wire shape (`schema.events.event_to_wire`),
keyed by camera so one camera's reads stay in order on one partition.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson

from schema.events import PlateEvent, event_to_wire

DEFAULT_TOPIC: Final = "alpr.plates.detected"


def encode(event: PlateEvent | dict[str, Any]) -> tuple[bytes, bytes | None]:
    """(value, key) of an event or of an already wire-shaped dict."""
    wire = event_to_wire(event) if isinstance(event, PlateEvent) else event
    camera = wire.get("camera_id")
    return orjson.dumps(wire), str(camera).encode() if camera is not None else None


async def publish_event(
    producer: Any,
    event: PlateEvent | dict[str, Any],
    topic: str = DEFAULT_TOPIC,
    *,
    wait: bool = True,
) -> asyncio.Future[Any]:
    """Send one event keyed by its camera; with `wait`, until the broker has it.

    Returns the delivery future (already done when `wait`), so bulk senders
    can pass `wait=False` and gather the futures themselves.
    """
    value, key = encode(event)
    delivery: asyncio.Future[Any] = await producer.send(topic, value=value, key=key)
    if wait:
        await delivery
    return delivery
