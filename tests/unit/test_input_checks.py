"""Argument checks that keep what PostgreSQL cannot take from reaching it (schema/filters.py,
schema/paging.py): NUL and lone surrogates, timestamps at the ends of the calendar, ids
past bigint. Each is refused naming the argument."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from schema.errors import InvalidRequest
from schema.filters import (
    EARLIEST,
    LATEST,
    MAX_RECORD_ID,
    check_id,
    check_instant,
    check_plate,
    check_record_id,
    check_text,
    check_window,
)
from schema.graphql.inputs import EventFilter, LiveFilter
from schema.graphql.matches import PlateSearchFilter
from schema.paging import decode_cursor, encode_cursor

PLUS_5 = timezone(timedelta(hours=5))
MINUS_5 = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("value", "says"),
    [("AB\x00C", "NUL"), ("AB\ud800C", "surrogate"), ("\udfff", "surrogate")],
)
def test_text_postgresql_cannot_hold_is_refused_by_name(value: str, says: str) -> None:
    for check in (
        lambda: check_text(value, "arg"),
        lambda: check_plate(value, "arg"),
        lambda: check_id(value, "arg"),
    ):
        with pytest.raises(InvalidRequest, match=says) as caught:
            check()
        assert caught.value.argument == "arg"


def test_ordinary_text_passes() -> None:
    text = "Škoda Octavia \u2013 京A·12345"
    assert check_text(text, "x") == text
    assert check_plate("京A-12345") == "A12345"
    assert check_id("cam-01", "cameraId") == "cam-01"


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: EventFilter(plate="A\x00").to_query(), "plate"),
        (lambda: EventFilter(camera_id="c\x00").to_query(), "cameraId"),
        (lambda: EventFilter(site_id="\ud800").to_query(), "siteId"),
        (lambda: EventFilter(vehicle_make="\x00").to_query(), "vehicleMake"),
        (lambda: EventFilter(vehicle_color="\ud800").to_query(), "vehicleColor"),
        (lambda: LiveFilter(camera_id="\x00").to_query(), "cameraId"),
        (lambda: PlateSearchFilter(region="\x00").to_filter(), "region"),
    ],
)
def test_every_filter_field_is_checked(build: object, argument: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        build()  # type: ignore[operator]
    assert caught.value.argument == argument


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=PLUS_5),  # year 0 in UTC
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_5),  # year 10000 in UTC
    ],
)
def test_a_time_with_no_utc_time_is_refused_by_name(value: datetime) -> None:
    with pytest.raises(InvalidRequest, match="outside the range") as caught:
        check_window(value, None, ("start_time", "end_time"))
    assert caught.value.argument == "start_time"
    with pytest.raises(InvalidRequest) as caught:
        check_window(None, value, ("start_time", "end_time"))
    assert caught.value.argument == "end_time"
    with pytest.raises(InvalidRequest):
        check_instant(value, "held_from")


def test_window_bounds_are_utc_and_kept_clear_of_the_calendars_ends() -> None:
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert check_window(first, last) == (EARLIEST, LATEST)
    noon = datetime(2026, 3, 1, 12, tzinfo=PLUS_5)
    since, until = check_window(noon, None)
    assert since == noon and since is not None and since.tzinfo is UTC and until is None
    # The order is checked on the times given, before they are kept in range.
    with pytest.raises(InvalidRequest, match="after since"):
        check_window(last, first)


def test_record_ids_are_bigints() -> None:
    assert check_record_id("42", "beforeId") == 42
    assert check_record_id(MAX_RECORD_ID, "hold_id") == MAX_RECORD_ID
    for bad in ("0", "-1", str(MAX_RECORD_ID + 1), "9" * 30, "\uff11\uff12", "²", "4 2", ""):
        with pytest.raises(InvalidRequest) as caught:
            check_record_id(bad, "beforeId")
        assert caught.value.argument == "beforeId"


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-01-01T00:00:00"],
)
def test_a_cursor_without_a_utc_time_is_not_ours(at: str) -> None:
    forged = _cursor(f"v1|{at}|123e4567-e89b-12d3-a456-426614174000")
    with pytest.raises(InvalidRequest, match="not a cursor") as caught:
        decode_cursor(forged, "after")
    assert caught.value.argument == "after"


@pytest.mark.parametrize(
    "cursor", ["\x00", "\ud800", "A\x00B", _cursor("v1|\x00|\x00"), _cursor("v1|2026-01-01T00:00Z")]
)
def test_cursors_with_text_postgresql_cannot_hold_are_not_ours(cursor: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(cursor, "after")


def test_cursors_decode_to_utc() -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=PLUS_5)
    event_id = "123e4567-e89b-12d3-a456-426614174000"
    cursor = decode_cursor(encode_cursor(at, UUID(event_id)), "after")
    assert cursor.captured_at == at and cursor.captured_at.tzinfo is UTC
