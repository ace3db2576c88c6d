"""A shared subscription shape renders a read as its selection says: aliases,
fragments, directives on the shape's variables, enums, nested scalars; read
off its plan, or through graphql-core when the plan cannot say. (That both
render as Strawberry's own execution does, over a corpus, is in
test_library_internals.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse
from strawberry.types.nodes import Selection, convert_selections

from gateway.graphql_schema import build_schema
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
# Two selections of one response key: graphql-core merges them, a plan does not.
MERGED = """
subscription Watch($c: String, $withPlate: Boolean!) {
  plateDetected(filter: {cameraId: $c}) {
    readId: id camera { id } camera { siteId } plate @skip(if: $withPlate) { text }
  }
}
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


def _selected(document: str, variables: dict[str, Any]) -> list[Selection]:
    """Strawberry's `info.selected_fields` of the subscription field, as its resolver sees it."""
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    info = SimpleNamespace(variable_values=variables, fragments=fragments)
    return convert_selections(info, [root])  # type: ignore[arg-type]


def _shape(document: str, variables: dict[str, Any], planned: bool) -> SharedShape:
    key = (document, "Watch", json.dumps(variables, sort_keys=True))
    selected = _selected(document, variables) if planned else None
    return SharedShape(SCHEMA, key, selected)


def _rendered(shape: SharedShape, event: Event) -> list[tuple[str, Any]]:
    """The payload with its keys' order kept."""
    result: list[tuple[str, Any]] = json.loads(
        shape.render(event), object_pairs_hook=lambda pairs: pairs
    )
    return result


@pytest.mark.parametrize("planned", [True, False])
def test_a_read_renders_as_its_selection(planned: bool) -> None:
    event = _event()
    shape = _shape(DOCUMENT, {"c": "cam-7", "withPlate": True}, planned)
    assert shape.planned is planned
    assert json.loads(shape.render(event)) == {
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


def test_a_value_that_is_an_error_is_rendered_by_graphql_core() -> None:
    event = _event()
    event.captured_at = None  # type: ignore[assignment]  # non-null in the schema
    planned = _shape(DOCUMENT, {"c": "cam-7", "withPlate": True}, planned=True)
    payload = json.loads(planned.render(event))
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert payload["errors"][0]["path"] == ["plateDetected", "capturedAt"]


def test_a_selection_without_a_plan_is_rendered_by_graphql_core() -> None:
    event = _event()
    shape = _shape(MERGED, {"c": "cam-7", "withPlate": False}, planned=True)
    assert not shape.planned
    assert json.loads(shape.render(event))["data"]["plateDetected"] == {
        "readId": str(event.id),
        "camera": {"id": "cam-7", "siteId": "DC1"},
        "plate": {"text": "ABC123"},
    }


def test_one_shape_per_document_and_variables() -> None:
    key = (DOCUMENT, "Watch", json.dumps({"c": "cam-7", "withPlate": True}))
    other = (DOCUMENT, "Watch", json.dumps({"c": "cam-8", "withPlate": True}))
    selected = _selected(DOCUMENT, {"c": "cam-7", "withPlate": True})
    shape = shared_shape(SCHEMA, key, selected)
    assert shared_shape(SCHEMA, key, selected) is shape
    assert shared_shape(SCHEMA, other, selected) is not shape
