"""Filters over reads, validated into plain values; no I/O, no GraphQL.

Every limit here is the column's (plates 20 characters, ids 50); a value that
could never match is refused with `InvalidRequest` naming the argument, so a
client learns of its mistake instead of getting an empty page. GraphQL
inputs, REST parameters, the live feed and `alpr export` all end in an
`EventQuery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schema.errors import InvalidRequest
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
