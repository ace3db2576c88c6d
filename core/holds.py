"""Legal holds: what a hold names, and placing, listing and releasing them.

A hold keeps reads from retention (`ingestor.retention`) until it is
released. It names one read (`event_id`) or a plate (its normalized text,
optionally within a time window); a case number groups the holds of one
investigation; who placed it and why are required. A release keeps the row
with who released it and why, so the history of every hold stays. `alpr
hold` and the gateway's `/admin/holds` both call these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from core.db import translated
from schema.errors import InvalidRequest
from schema.plates import normalize_plate
from sql import Query, load_queries

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


log = logging.getLogger(__name__)


def _queries() -> dict[str, Query]:
    return load_queries("holds")


@translated
async def add_hold(pool: asyncpg.Pool[Any], request: HoldRequest) -> Hold:
    """Place a hold; effective for the next retention run at once."""
    row = await pool.fetchrow(
        *_queries()["add_hold"].bind(
            event_id=request.event_id,
            plate=request.normalized_plate(),
            held_from=request.held_from,
            held_until=request.held_until,
            case_number=request.case_number,
            reason=request.reason,
            created_by=request.created_by,
        )
    )
    assert row is not None
    hold = Hold.from_row(row)
    # The plate is personal data: the id and case suffice at INFO.
    log.info(
        "legal hold %s placed by %s (case %s)", hold.hold_id, hold.created_by, hold.case_number
    )
    return hold


@translated
async def list_holds(
    pool: asyncpg.Pool[Any], *, active_only: bool = True, case_number: str | None = None
) -> list[Hold]:
    """Holds in the order placed; released ones too unless `active_only`."""
    rows = await pool.fetch(
        *_queries()["list_holds"].bind(active_only=active_only, case_number=case_number)
    )
    return [Hold.from_row(row) for row in rows]


@translated
async def release_holds(
    pool: asyncpg.Pool[Any],
    *,
    released_by: str,
    reason: str,
    hold_id: int | None = None,
    case_number: str | None = None,
) -> list[int]:
    """Release hold `hold_id`, or every active hold of `case_number`; return their ids."""
    if (hold_id is None) == (case_number is None):
        raise InvalidRequest("hold_id", "name exactly one of hold_id or case_number")
    if not released_by.strip():
        raise InvalidRequest("released_by", "who releases the hold is required")
    if not reason.strip():
        raise InvalidRequest("reason", "why the hold is released is required")
    rows = await pool.fetch(
        *_queries()["release_holds"].bind(
            hold_id=hold_id, case_number=case_number, released_by=released_by, reason=reason
        )
    )
    released = [int(row["hold_id"]) for row in rows]
    log.info("legal holds %s released by %s", released, released_by)
    return released
