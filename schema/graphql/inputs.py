"""GraphQL input types; each validates into a plain `schema.filters.EventQuery`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.filters import EventQuery, check_confidence, check_id, check_plate, check_window
from schema.graphql.enums import Direction, VehicleType


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
