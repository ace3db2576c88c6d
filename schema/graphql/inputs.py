"""Input types, and their validation into plain query values.

Every limit here is the column's (plates 20 characters, ids 50); a value that
could never match is refused with `InvalidRequest` naming the argument, so a
client learns of its mistake instead of getting an empty page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import strawberry

from schema.errors import InvalidRequest
from schema.graphql.enums import Direction, VehicleType
from schema.plates import normalize_plate

MAX_PLATE = 20
MAX_ID = 50


def check_plate(text: str, argument: str = "plate") -> str:
    """The normalized form of a plate argument."""
    if len(text) > MAX_PLATE:
        raise InvalidRequest(argument, f"is longer than {MAX_PLATE} characters")
    normalized = normalize_plate(text)
    if not normalized:
        raise InvalidRequest(argument, "has no letters or digits")
    return normalized


def check_id(value: str | None, argument: str) -> str | None:
    if value is not None and not 1 <= len(value) <= MAX_ID:
        raise InvalidRequest(argument, f"must be 1 to {MAX_ID} characters")
    return value


def check_time(value: datetime | None, argument: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidRequest(argument, "needs a UTC offset (e.g. 2025-12-16T14:03:07Z)")
    return value


def check_window(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("since", "until")
) -> tuple[datetime | None, datetime | None]:
    since = check_time(since, names[0])
    until = check_time(until, names[1])
    if since is not None and until is not None and until <= since:
        raise InvalidRequest(names[1], f"must be after {names[0]}")
    return since, until


def check_confidence(value: float | None, argument: str = "minConfidence") -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidRequest(argument, "must be between 0 and 1")
    return value


@dataclass(frozen=True)
class EventQuery:
    """A validated filter over reads; None means "any"."""

    plate: str | None = None
    camera_id: str | None = None
    site_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    direction: str | None = None
    vehicle_make: str | None = None
    vehicle_color: str | None = None
    vehicle_type: str | None = None
    min_confidence: float | None = None


@strawberry.input(description="Which reads to return; every field narrows the set.")
class EventFilter:
    plate: str | None = strawberry.field(
        default=None, description="A plate as read or normalized (ABC-123 or ABC123)."
    )
    camera_id: str | None = None
    site_id: str | None = None
    since: datetime | None = strawberry.field(
        default=None, description="Reads captured at or after this time (with offset)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Reads captured before this time (with offset)."
    )
    direction: Direction | None = None
    vehicle_make: str | None = None
    vehicle_color: str | None = None
    vehicle_type: VehicleType | None = None
    min_confidence: float | None = None

    def to_query(self) -> EventQuery:
        since, until = check_window(self.since, self.until)
        check_id(self.vehicle_make, "vehicleMake")
        check_id(self.vehicle_color, "vehicleColor")
        return EventQuery(
            plate=check_plate(self.plate) if self.plate is not None else None,
            camera_id=check_id(self.camera_id, "cameraId"),
            site_id=check_id(self.site_id, "siteId"),
            since=since,
            until=until,
            direction=self.direction.value if self.direction else None,
            vehicle_make=self.vehicle_make,
            vehicle_color=self.vehicle_color,
            vehicle_type=self.vehicle_type.value if self.vehicle_type else None,
            min_confidence=check_confidence(self.min_confidence),
        )


@strawberry.input(description="Which live reads a subscription receives.")
class LiveFilter:
    plate: str | None = None
    camera_id: str | None = None
    site_id: str | None = None
    min_confidence: float | None = None

    def to_query(self) -> EventQuery:
        return EventQuery(
            plate=check_plate(self.plate) if self.plate is not None else None,
            camera_id=check_id(self.camera_id, "cameraId"),
            site_id=check_id(self.site_id, "siteId"),
            min_confidence=check_confidence(self.min_confidence),
        )
