"""The one cursor codec: keyset and rank cursors, old ones still decoding,
anything else refused naming the argument."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from schema.errors import InvalidRequest
from schema.paging import Cursor, decode_cursor, decode_rank, encode_cursor, encode_rank

EVENT_ID = UUID("0b9f6c1e-3d4a-4f5b-8c6d-7e8f9a0b1c2d")
# Issued by the API before the codec was shared; clients may still hold them.
ISSUED = [
    (
        "djF8MjAyNS0xMi0xNlQxNDowMzowNy40MTIwMDArMDA6MDB8MGI5ZjZjMWUtM2Q0YS00ZjViLThjNmQtN2U4ZjlhMGIxYzJk",
        Cursor(datetime(2025, 12, 16, 14, 3, 7, 412000, tzinfo=UTC), EVENT_ID),
    ),
    (
        "djF8MjAyNi0wMy0wMVQwOTowMDowMC0wNTowMHwwYjlmNmMxZS0zZDRhLTRmNWItOGM2ZC03ZThmOWEwYjFjMmQ",
        Cursor(datetime(2026, 3, 1, 9, tzinfo=timezone(timedelta(hours=-5))), EVENT_ID),
    ),
]
ISSUED_RANKS = [("czF8MA", 0), ("czF8NDA", 40)]


def opaque(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_cursor_round_trips() -> None:
    at = datetime(2025, 12, 16, 14, 3, 7, 412000, tzinfo=UTC)
    event_id = uuid4()
    cursor = decode_cursor(encode_cursor(at, event_id), "after")
    assert (cursor.captured_at, cursor.event_id) == (at, event_id)


@pytest.mark.parametrize("position", [0, 1, 37, 10**6])
def test_rank_round_trips(position: int) -> None:
    assert decode_rank(encode_rank(position), "after") == position


@pytest.mark.parametrize(("value", "cursor"), ISSUED)
def test_issued_keyset_cursors_keep_their_text_and_meaning(value: str, cursor: Cursor) -> None:
    assert decode_cursor(value, "after") == cursor
    assert encode_cursor(cursor.captured_at, cursor.event_id) == value


@pytest.mark.parametrize(("value", "position"), ISSUED_RANKS)
def test_issued_rank_cursors_keep_their_text_and_meaning(value: str, position: int) -> None:
    assert decode_rank(value, "after") == position
    assert encode_rank(position) == value


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "x",
        "djF8bm90YWRhdGV8eA",  # v1|notadate|x
        "'; DROP TABLE plate_events; --",
        "é",
        encode_rank(3),  # a search cursor
        opaque(f"v2|2026-01-01T00:00:00+00:00|{EVENT_ID}"),
        opaque("v1|2026-01-01T00:00:00+00:00"),
        opaque(f"v1|2026-01-01T00:00:00+00:00|{EVENT_ID}|x"),
        opaque("v1|2026-01-01T00:00:00+00:00|not-a-uuid"),
    ],
)
def test_foreign_cursors_are_refused_naming_the_argument(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(bad, "before")
    assert caught.value.argument == "before"
    assert str(caught.value) == "before: is not a cursor issued by this API"


def test_a_cursor_without_offset_is_refused() -> None:
    naive = encode_cursor(datetime(2026, 1, 1), EVENT_ID)
    with pytest.raises(InvalidRequest, match="issued by this API"):
        decode_cursor(naive, "after")


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "",
        encode_rank(3)[:-2] + "!!",
        opaque("s1|-1"),
        opaque("s1|a"),
        opaque("s1|1|2"),
        opaque("s2|1"),
        encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), EVENT_ID),  # a reads cursor
    ],
)
def test_foreign_rank_cursors_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_rank(bad, "after")
    assert str(caught.value) == "after: is not a cursor issued by this search"
