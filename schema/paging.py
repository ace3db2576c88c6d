"""Pages: opaque cursors and page requests.

Every cursor the API issues is urlsafe base64 (unpadded) of a versioned
text, `<version>|<part>|...`, written and read by one codec here. Two
formats use it:

- keyset (`v1|<captured_at iso>|<event_id>`): the position of a read in the
  newest-first order of all reads, so it stays valid while new reads arrive
  (unlike an offset);
- rank (`s1|<position>`): a position in a plate search's ranking, valid for
  the same query and filter;
- row id (`i1|<kind>|<id>`): a position in a newest-first list of rows with
  ascending ids (alerts, hotlist entries), stable while rows are added.

Clients hold cursors across releases: a format, once issued, keeps decoding.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, TypeVar
from uuid import UUID

from schema.errors import InvalidRequest

MAX_PAGE: Final = 500
DEFAULT_PAGE: Final = 20
_KEYSET: Final = "v1"
_RANK: Final = "s1"
_ROW_ID: Final = "i1"

T = TypeVar("T")


def _encode(text: str) -> str:
    """The opaque form of a cursor's text."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(
    value: str, version: str, parse: Callable[[list[str]], T], argument: str, issuer: str
) -> T:
    """`parse` of the parts after `version` of the cursor `value`.

    Raises `InvalidRequest(argument, "is not a cursor issued by <issuer>")`
    for anything else: not base64 text, another version, or parts `parse`
    refuses with ValueError.
    """
    try:
        padded = value + "=" * (-len(value) % 4)
        found, *parts = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split("|")
        if found != version:
            raise ValueError(found)
        return parse(parts)
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidRequest(argument, f"is not a cursor issued by {issuer}") from None


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order of reads."""

    captured_at: datetime
    event_id: UUID


def _keyset(parts: list[str]) -> Cursor:
    at, event_id = parts
    captured_at = datetime.fromisoformat(at)
    if captured_at.tzinfo is None:
        raise ValueError(at)
    try:
        # What the database compares: a time a read can have, in UTC.
        captured_at = captured_at.astimezone(UTC)
    except OverflowError:
        raise ValueError(at) from None
    return Cursor(captured_at, UUID(event_id))


def encode_cursor(captured_at: datetime, event_id: UUID) -> str:
    """The keyset cursor of a read (made for every edge of a page: one format, one call)."""
    return _encode(f"{_KEYSET}|{captured_at.isoformat()}|{event_id}")


def decode_cursor(value: str, argument: str) -> Cursor:
    """The keyset cursor `value`; `InvalidRequest(argument)` for anything we did not issue."""
    return _decode(value, _KEYSET, _keyset, argument, "this API")


def _position(parts: list[str]) -> int:
    (text,) = parts
    position = int(text)
    if position < 0:
        raise ValueError(text)
    return position


def encode_rank(position: int) -> str:
    """The cursor of a ranking position: where a page `after` it starts."""
    return _encode(f"{_RANK}|{position}")


def decode_rank(value: str, argument: str) -> int:
    """The ranking position a cursor stands for; `InvalidRequest(argument)` for
    anything we did not issue, keyset cursors included."""
    return _decode(value, _RANK, _position, argument, "this search")


def encode_row_id(kind: str, row_id: int) -> str:
    """The cursor of row `row_id` of a `kind` of rows (`alert`, `entry`)."""
    return _encode(f"{_ROW_ID}|{kind}|{row_id}")


def decode_row_id(value: str, kind: str, argument: str) -> int:
    """The row id a cursor of `kind` stands for; `InvalidRequest(argument)` for
    anything else, cursors of another kind included."""

    def parse(parts: list[str]) -> int:
        found, text = parts
        row_id = int(text)
        if found != kind or row_id < 1:
            raise ValueError(text)
        return row_id

    return _decode(value, _ROW_ID, parse, argument, "this list")


@dataclass(frozen=True)
class PageRequest:
    """What one page asks for, validated.

    `backward` pages (`last`/`before`) walk towards newer reads; the rows are
    fetched oldest first and returned in the list's newest-first order.
    """

    limit: int
    backward: bool = False
    cursor: Cursor | None = None

    @classmethod
    def from_args(
        cls,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PageRequest:
        if first is not None and last is not None:
            raise InvalidRequest("last", "give either first or last, not both")
        if after is not None and before is not None:
            raise InvalidRequest("before", "give either after or before, not both")
        backward = last is not None or before is not None
        if backward and first is not None:
            raise InvalidRequest("first", "use last with before")
        if not backward and last is not None:
            raise InvalidRequest("last", "use first with after")
        size = last if backward else first
        name = "last" if backward else "first"
        if size is None:
            size = DEFAULT_PAGE
        if not 1 <= size <= MAX_PAGE:
            raise InvalidRequest(name, f"must be between 1 and {MAX_PAGE}, got {size}")
        raw = before if backward else after
        cursor = decode_cursor(raw, "before" if backward else "after") if raw else None
        return cls(limit=size, backward=backward, cursor=cursor)
