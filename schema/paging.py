"""Keyset pages: opaque cursors over (captured_at, event_id) and page requests.

A cursor is the position of a read in the newest-first order of all reads,
so it stays valid while new reads arrive (unlike an offset). It is opaque to
clients: base64 of a versioned text, decoded and checked here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from schema.errors import InvalidRequest

MAX_PAGE: Final = 500
DEFAULT_PAGE: Final = 20
_VERSION: Final = "v1"


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order of reads."""

    captured_at: datetime
    event_id: UUID


def encode_cursor(captured_at: datetime, event_id: UUID) -> str:
    text = f"{_VERSION}|{captured_at.isoformat()}|{event_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(value: str, argument: str) -> Cursor:
    """The cursor `value`; `InvalidRequest(argument)` for anything we did not issue."""
    try:
        padded = value + "=" * (-len(value) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        version, at, event_id = text.split("|")
        cursor = Cursor(datetime.fromisoformat(at), UUID(event_id))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidRequest(argument, "is not a cursor issued by this API") from None
    if version != _VERSION or cursor.captured_at.tzinfo is None:
        raise InvalidRequest(argument, "is not a cursor issued by this API")
    return cursor


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
