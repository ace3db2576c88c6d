"""Legal holds: what a hold names, and a placed hold as stored.

A hold keeps reads from retention until it is released. It names one read
(`event_id`) or a plate (its normalized text, optionally within a time
window); a case number groups the holds of one investigation. Who placed it
and why are required. Shared by the CLI (through the ingestor) and the admin
REST API (in the gateway); no I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from schema.plates import normalize_plate

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class HoldRequest(BaseModel):
    """A hold to place: exactly one of `event_id` or `plate`, with who and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID | None = None
    plate: str | None = None
    held_from: datetime | None = None
    held_until: datetime | None = None
    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    reason: NonEmpty
    created_by: NonEmpty

    @model_validator(mode="after")
    def _one_target(self) -> HoldRequest:
        if (self.event_id is None) == (self.plate is None):
            raise ValueError("name exactly one of event_id or plate")
        if self.plate is not None and not 1 <= len(normalize_plate(self.plate)) <= 20:
            raise ValueError("plate must have 1 to 20 letters or digits")
        if self.event_id is not None and (self.held_from or self.held_until):
            raise ValueError("held_from/held_until apply to plate holds only")
        for value in (self.held_from, self.held_until):
            if value is not None and value.utcoffset() is None:
                raise ValueError("held_from/held_until need a UTC offset")
        if self.held_from and self.held_until and self.held_from >= self.held_until:
            raise ValueError("held_from must be before held_until")
        return self

    def normalized_plate(self) -> str | None:
        """The plate as the reads store it (`abc-123` -> `ABC123`)."""
        return None if self.plate is None else normalize_plate(self.plate)


class Hold(BaseModel):
    """A placed hold, active while `released_at` is None."""

    model_config = ConfigDict(frozen=True)

    hold_id: int
    event_id: UUID | None
    plate_normalized_text: str | None
    held_from: datetime | None
    held_until: datetime | None
    case_number: str | None
    reason: str
    created_by: str
    created_at: datetime
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Hold:
        return cls.model_validate(dict(row))

    @property
    def active(self) -> bool:
        return self.released_at is None

    def target(self) -> str:
        """What the hold covers, for listings (plate text: show to admins only)."""
        if self.event_id is not None:
            return f"event {self.event_id}"
        window = ""
        if self.held_from or self.held_until:
            start = self.held_from.isoformat() if self.held_from else "…"
            end = self.held_until.isoformat() if self.held_until else "…"
            window = f" [{start}, {end})"
        return f"plate {self.plate_normalized_text}{window}"
