"""The wire event: every validation rule, both shapes, normalization."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from schema.errors import InvalidEvent
from schema.events import (
    COLUMNS,
    CaptureWindow,
    decode_event,
    event_from_dict,
    event_to_wire,
    flatten,
)
from tests.factories import DELETE, wire_event


def _invalid(message: object, **kwargs: object) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        event_from_dict(message, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_nested_event_becomes_the_columns() -> None:
    event = event_from_dict(wire_event(event_id="a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
    assert event.event_id == UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert event.plate_text == "ABC-123"
    assert event.plate_normalized_text == "ABC123"
    assert event.vehicle_make == "Toyota"
    assert event.frame_image_url == "https://img.example/f.jpg"
    assert event.site_id == "DC1" and event.host_id == "jetson-orin-nx"
    assert event.roi == "lane-1" and event.direction == "inbound"
    assert event.quality_score == 0.81 and event.frame_number == 18231


def test_flat_variant_is_accepted() -> None:
    nested = event_from_dict(wire_event())
    flat = {k: v for k, v in nested.model_dump(mode="json").items()}
    assert event_from_dict(flat) == nested


def test_round_trip_through_the_wire_shape() -> None:
    event = event_from_dict(wire_event())
    assert event_from_dict(event_to_wire(event)) == event


def test_row_follows_the_column_order() -> None:
    event = event_from_dict(wire_event())
    row = event.as_row()
    assert len(row) == len(COLUMNS) == 22
    assert row[COLUMNS.index("camera_id")] == "camera-01"
    assert "created_at" not in COLUMNS  # the database stamps it


def test_unknown_fields_are_ignored() -> None:
    event = event_from_dict(wire_event(firmware="1.2.3", plate__ocr_engine="x"))
    assert event.camera_id == "camera-01"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("abc-123", "ABC123"), (" ab c 12 3 ", "ABC123"), ("ab.c/1_2", "ABC12"), ("Ö1x", "1X")],
)
def test_plate_is_normalized_from_the_raw_text(raw: str, normalized: str) -> None:
    event = event_from_dict(wire_event(plate__text=raw, plate__normalized_text="WRONG"))
    assert event.plate_normalized_text == normalized


def test_missing_normalized_text_is_computed() -> None:
    event = event_from_dict(wire_event(plate__normalized_text=DELETE))
    assert event.plate_normalized_text == "ABC123"


@pytest.mark.parametrize("region", [None, ""])
def test_missing_region_becomes_unknown(region: str | None) -> None:
    assert event_from_dict(wire_event(plate__region=region)).plate_region == "UNKNOWN"
    assert event_from_dict(wire_event(plate__region=DELETE)).plate_region == "UNKNOWN"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"event_id": DELETE}, "event_id", "required field is missing"),
        ({"event_id": "not-a-uuid"}, "event_id", "valid UUID"),
        ({"captured_at": DELETE}, "captured_at", "required field is missing"),
        ({"captured_at": "yesterday"}, "captured_at", "valid datetime"),
        ({"captured_at": "2025-13-45T99:00:00Z"}, "captured_at", "valid datetime"),
        ({"captured_at": 1765893787}, "captured_at", "ISO 8601"),
        ({"captured_at": "2025-12-16T14:03:07"}, "captured_at", "no UTC offset"),
        ({"camera_id": DELETE}, "camera_id", "required field is missing"),
        ({"camera_id": ""}, "camera_id", "at least 1 character"),
        ({"camera_id": "c" * 51}, "camera_id", "at most 50 characters"),
        ({"camera_id": 7}, "camera_id", "valid string"),
        ({"track_id": DELETE}, "track_id", "required field is missing"),
        ({"track_id": "t" * 51}, "track_id", "at most 50 characters"),
        ({"plate__text": DELETE}, "plate.text", "required field is missing"),
        ({"plate__text": "A" * 21}, "plate.text", "at most 20 characters"),
        ({"plate__text": "-- --"}, "plate.text", "no letters or digits"),
        ({"plate__confidence": DELETE}, "plate.confidence", "required field is missing"),
        ({"plate__confidence": 7}, "plate.confidence", "less than or equal to 1"),
        ({"plate__confidence": -0.1}, "plate.confidence", "greater than or equal to 0"),
        ({"plate__confidence": "high"}, "plate.confidence", "valid number"),
        ({"plate__region": "R" * 11}, "plate.region", "at most 10 characters"),
        ({"vehicle__type": "t" * 21}, "vehicle.type", "at most 20 characters"),
        ({"vehicle__make": "m" * 51}, "vehicle.make", "at most 50 characters"),
        ({"vehicle__model": "m" * 51}, "vehicle.model", "at most 50 characters"),
        ({"vehicle__color": "c" * 31}, "vehicle.color", "at most 30 characters"),
        ({"latency_ms": -1}, "latency_ms", "greater than or equal to 0"),
        ({"latency_ms": 2**31}, "latency_ms", "less than or equal to"),
        ({"latency_ms": 4.5}, "latency_ms", "valid integer"),
        ({"extras__frame_number": 2**31}, "extras.frame_number", "less than or equal to"),
        ({"extras__quality_score": "good"}, "extras.quality_score", "valid number"),
        ({"extras__roi": "r" * 51}, "extras.roi", "at most 50 characters"),
        ({"extras__direction": "d" * 21}, "extras.direction", "at most 20 characters"),
        ({"node__site": "s" * 51}, "node.site", "at most 50 characters"),
        ({"node__host": "h" * 101}, "node.host", "at most 100 characters"),
        ({"camera_id": "cam\x00"}, "camera_id", "NUL character"),
        ({"plate__text": "AB\x00C"}, "plate.text", "NUL character"),
    ],
)
def test_every_rule_names_field_and_reason(
    changes: dict[str, object], field: str, reason: str
) -> None:
    error = _invalid(wire_event(**changes))
    assert error.field == field
    assert reason in error.reason
    assert str(error) == f"{field}: {error.reason}"


def test_flat_errors_use_column_names() -> None:
    flat = event_from_dict(wire_event()).model_dump(mode="json")
    flat["plate_confidence"] = 3
    assert _invalid(flat).field == "plate_confidence"


def test_non_finite_confidence_is_rejected() -> None:
    payload = json.dumps(wire_event()).replace('"confidence": 0.93', '"confidence": NaN')
    with pytest.raises(InvalidEvent) as caught:
        decode_event(payload)
    assert caught.value.field == "message"  # strict JSON has no NaN


def test_naive_timestamp_takes_the_configured_zone() -> None:
    event = event_from_dict(
        wire_event(captured_at="2025-12-16T14:03:07"), naive_timezone=ZoneInfo("Europe/Berlin")
    )
    assert event.captured_at.astimezone(UTC) == datetime(2025, 12, 16, 13, 3, 7, tzinfo=UTC)


def test_offsets_are_kept() -> None:
    event = event_from_dict(wire_event(captured_at="2025-12-16T14:03:07+05:30"))
    assert event.captured_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert event.captured_at.astimezone(UTC).hour == 8


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b"42", "expected a JSON object, got a number"),
    ],
)
def test_undecodable_messages(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(payload)
    assert caught.value.field == "message"
    assert reason in caught.value.reason


def test_decode_accepts_bytes_and_text() -> None:
    message = wire_event()
    assert decode_event(json.dumps(message)) == decode_event(json.dumps(message).encode())


def test_flatten_leaves_flat_messages_alone() -> None:
    flat = {"camera_id": "c", "plate_text": "X"}
    assert flatten(flat) is flat


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"null", "got null"), (b'"text"', "got a string"), (b"true", "got a boolean")],
)
def test_a_message_that_is_not_an_object_is_named_in_json_terms(
    payload: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(payload)
    assert caught.value.reason == f"expected a JSON object, {reason}"


# The capture window, on a clock fixed at 2026-12-01T12:00:00Z.
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
WINDOW = CaptureWindow(max_future_s=86_400, max_age_days=3650, clock=NOW.timestamp)


@pytest.mark.parametrize(
    ("captured_at", "reason"),
    [
        ("9999-12-31T23:59:59Z", "more than 86400 s ahead of the server's clock"),
        ("9999-12-31T23:59:59-05:00", "more than 86400 s ahead"),  # past year 9999 in UTC
        ("2300-01-01T00:00:00Z", "more than 86400 s ahead"),
        ("2026-12-02T12:00:01Z", "more than 86400 s ahead"),
        ("0001-01-01T00:00:00Z", "more than 3650 days old"),
        ("0001-01-01T00:00:00+05:00", "more than 3650 days old"),  # before year 1 in UTC
        ("1970-01-01T00:00:00Z", "more than 3650 days old"),
        ("2016-12-03T11:59:59Z", "more than 3650 days old"),
    ],
)
def test_a_time_outside_the_window_is_refused_naming_field_and_bound(
    captured_at: str, reason: str
) -> None:
    payload = json.dumps(wire_event(captured_at=captured_at)).encode()
    for decoded in (
        lambda: decode_event(payload, window=WINDOW),
        lambda: event_from_dict(wire_event(captured_at=captured_at), window=WINDOW),
        lambda: event_from_dict(json.loads(payload), window=WINDOW, check_nul=False),
    ):
        with pytest.raises(InvalidEvent) as caught:
            decoded()
        assert caught.value.field == "captured_at"
        assert reason in caught.value.reason
        assert captured_at[:10] in caught.value.reason  # the value as sent, not converted


@pytest.mark.parametrize(
    "captured_at",
    [
        "2026-12-02T12:00:00Z",
        "2026-12-02T13:00:00+01:00",
        "2016-12-03T12:00:01Z",
        "2020-06-01T00:00:00Z",
    ],
)
def test_a_time_inside_the_window_is_taken(captured_at: str) -> None:
    payload = json.dumps(wire_event(captured_at=captured_at)).encode()
    assert decode_event(payload, window=WINDOW).captured_at == datetime.fromisoformat(captured_at)


def test_the_window_applies_to_naive_times_read_in_the_configured_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    late = wire_event(captured_at="2026-12-02T13:30:00")  # 12:30 UTC: past the day ahead
    with pytest.raises(InvalidEvent, match="ahead"):
        event_from_dict(late, naive_timezone=berlin, window=WINDOW)
    ok = wire_event(captured_at="2026-12-02T12:30:00")  # 11:30 UTC
    assert event_from_dict(ok, naive_timezone=berlin, window=WINDOW).captured_at.hour == 12


def test_without_a_window_any_time_the_model_takes_is_taken() -> None:
    assert event_from_dict(wire_event(captured_at="0001-01-01T00:00:00Z")).captured_at.year == 1
