"""Enums for columns whose values are a small known set.

The columns are free text on the wire, so a stored value outside the set
maps to `OTHER`/`UNKNOWN`; the raw text stays available beside the enum.
"""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="Which way the vehicle was travelling past the camera.")
class Direction(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    UNKNOWN = "unknown"

    @classmethod
    def from_text(cls, text: str | None) -> Direction | None:
        if text is None:
            return None
        try:
            return cls(text.strip().lower())
        except ValueError:
            return cls.UNKNOWN


@strawberry.enum(description="The kind of vehicle, as classified by the pipeline.")
class VehicleType(Enum):
    CAR = "car"
    TRUCK = "truck"
    BUS = "bus"
    VAN = "van"
    SUV = "suv"
    MOTORCYCLE = "motorcycle"
    OTHER = "other"

    @classmethod
    def from_text(cls, text: str | None) -> VehicleType | None:
        if text is None:
            return None
        try:
            return cls(text.strip().lower())
        except ValueError:
            return cls.OTHER
