"""A shared subscription shape renders a read as GraphQL would: aliases,
fragments, directives on the shape's variables, enums, nested scalars."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import strawberry

from gateway.schema import build_schema
from gateway.websocket import SharedShape, shared_shape
from schema.events import event_from_dict
from schema.graphql.types import Camera, Event, Plate
from tests.factories import wire_event

SCHEMA = build_schema()
DOCUMENT = """
subscription Watch($c: String, $withPlate: Boolean!) {
  plateDetected(filter: {cameraId: $c}) {
    __typename
    readId: id
    ...Where
    vehicleType
    plate @include(if: $withPlate) { text readCount }
    camera { id siteId }
  }
}
fragment Where on Event { cameraId siteId capturedAt }
"""


def _event() -> Event:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    wire = wire_event(camera_id="cam-7", captured_at=at.isoformat())
    event = Event.from_row(event_from_dict(wire).model_dump() | {"created_at": None})
    event.camera = Camera(
        id=strawberry.ID("cam-7"), site_id="DC1", first_seen=at, last_seen=at, read_count=3
    )
    event.plate = Plate(
        text="ABC123",
        first_seen=at,
        last_seen=at,
        read_count=9,
        last_region="US-FL",
        last_camera_id="cam-7",
    )
    return event


def _render(variables: dict[str, object], event: Event) -> dict[str, object]:
    key = (DOCUMENT, "Watch", json.dumps(variables, sort_keys=True))
    result: dict[str, object] = json.loads(SharedShape(SCHEMA, key).render(event))
    return result


def test_a_read_renders_as_its_selection() -> None:
    event = _event()
    assert _render({"c": "cam-7", "withPlate": True}, event) == {
        "data": {
            "plateDetected": {
                "__typename": "Event",
                "readId": str(event.id),
                "cameraId": "cam-7",
                "siteId": "DC1",
                "capturedAt": "2026-03-01T12:30:00+00:00",
                "vehicleType": "CAR",
                "plate": {"text": "ABC123", "readCount": 9},
                "camera": {"id": "cam-7", "siteId": "DC1"},
            }
        }
    }


def test_the_shape_s_variables_decide_its_directives() -> None:
    rendered = _render({"c": "cam-7", "withPlate": False}, _event())["data"]
    assert isinstance(rendered, dict) and "plate" not in rendered["plateDetected"]


def test_one_shape_per_document_and_variables() -> None:
    key = (DOCUMENT, "Watch", json.dumps({"c": "cam-7", "withPlate": True}))
    other = (DOCUMENT, "Watch", json.dumps({"c": "cam-8", "withPlate": True}))
    shape = shared_shape(SCHEMA, key)
    assert shared_shape(SCHEMA, key) is shape
    assert shared_shape(SCHEMA, other) is not shape
