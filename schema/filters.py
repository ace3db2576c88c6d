"""Filters over reads, validated into plain values; no I/O, no GraphQL.

Every limit here is the column's (plates 20 characters, ids 50, record ids
PostgreSQL's bigint) or what PostgreSQL's text takes (no NUL character, no
lone surrogate); a value that could never match is refused with
`InvalidRequest` naming the argument, so a client learns of its mistake
instead of getting an empty page or a database error. GraphQL inputs, REST
parameters, the live feed and `alpr export` all end in an `EventQuery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from schema.errors import InvalidRequest
from schema.plates import normalize_plate

MAX_PLATE = 20
MAX_ID = 50
MAX_RECORD_ID: Final = 2**63 - 1  # bigint
# Window bounds beyond these are taken as these: reads are dated near the
# clock, so they select the same reads, and the hour and day arithmetic of
# stats (a month of hours back, a day forward) stays inside datetime's range.
EARLIEST: Final = datetime(1, 2, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 12, 1, tzinfo=UTC)


def check_text(value: str, argument: str) -> str:
    """`value`, if PostgreSQL's text can hold it (no NUL, valid Unicode)."""
    if "\x00" in value:
        raise InvalidRequest(argument, "contains a NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidRequest(argument, "is not valid Unicode (a lone surrogate)") from None
    return value


def check_plate(text: str, argument: str = "plate") -> str:
    """The normalized form of a plate argument."""
    check_text(text, argument)
    if len(text) > MAX_PLATE:
        raise InvalidRequest(argument, f"is longer than {MAX_PLATE} characters")
    normalized = normalize_plate(text)
    if not normalized:
        raise InvalidRequest(argument, "has no letters or digits")
    return normalized


def check_id(value: str | None, argument: str) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_ID:
        raise InvalidRequest(argument, f"must be 1 to {MAX_ID} characters")
    return check_text(value, argument)


def check_record_id(value: str | int, argument: str) -> int:
    """A database record id (audit record, hold): 1 to 2^63 - 1, from digits or an int."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise InvalidRequest(argument, "is not a record id (digits)")
        value = int(value)
    if not 1 <= value <= MAX_RECORD_ID:
        raise InvalidRequest(argument, f"must be between 1 and {MAX_RECORD_ID}")
    return value


def check_instant(value: datetime | None, argument: str) -> datetime | None:
    """`value` in UTC; refuses a time without offset, or one whose UTC time
    falls outside datetime's range."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(argument, "needs a UTC offset (e.g. 2025-12-16T14:03:07Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is in year 0
        raise InvalidRequest(
            argument, "is outside the range of timestamps (0001-01-01 to 9999-12-31 UTC)"
        ) from None


def _inside(value: datetime | None) -> datetime | None:
    return None if value is None else min(max(value, EARLIEST), LATEST)


def check_window(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("since", "until")
) -> tuple[datetime | None, datetime | None]:
    """Both bounds (each may be None) in UTC, taken as `EARLIEST`/`LATEST`
    beyond them; `until` must be after `since`."""
    since = check_instant(since, names[0])
    until = check_instant(until, names[1])
    if since is not None and until is not None and until <= since:
        raise InvalidRequest(names[1], f"must be after {names[0]}")
    return _inside(since), _inside(until)


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
