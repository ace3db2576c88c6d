"""The GraphQL schema: exported SDL up to date, connections and page rules,
input checks. (Cursors: test_paging.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from graphql import GraphQLObjectType

from gateway.graphql_core_internals import plain_plan
from gateway.graphql_schema import build_schema, sdl
from schema.errors import InvalidRequest
from schema.events import event_from_dict
from schema.filters import check_window
from schema.graphql.inputs import EventFilter, LiveFilter
from schema.graphql.types import EventConnection
from schema.paging import MAX_PAGE, PageRequest, decode_cursor, encode_cursor
from tests.factories import wire_event

SDL_FILE = Path(__file__).parents[2] / "schema" / "schema.graphql"


def test_exported_sdl_is_current() -> None:
    expected = sdl()
    assert SDL_FILE.read_text() == expected, (
        "schema/schema.graphql is stale: run "
        "`python -m gateway.graphql_schema > schema/schema.graphql`"
    )


def test_sdl_has_the_relay_shape_and_subscription() -> None:
    text = sdl()
    for needle in (
        "type EventConnection",
        "pageInfo: PageInfo!",
        "hasPreviousPage: Boolean!",
        "plateDetected(filter: LiveFilter",
        "events(filter: EventFilter",
        "stats(since: DateTime",
        "auditLog(",
    ):
        assert needle in text


def _rows(count: int) -> list[dict[str, Any]]:
    """Stored reads, newest first, as the page query returns them."""
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rows = []
    for i in range(count):
        at = (start - timedelta(minutes=i)).isoformat()
        wire = event_from_dict(wire_event(event_id=str(uuid4()), captured_at=at)).model_dump()
        rows.append(wire | {"created_at": None})
    return rows


def test_event_connection_edges_carry_keyset_cursors() -> None:
    rows = _rows(3)
    page = EventConnection.from_rows(rows, PageRequest.from_args(first=3), more=True)
    assert [edge.node.id for edge in page.edges] == [str(row["event_id"]) for row in rows]
    for edge, row in zip(page.edges, rows, strict=True):
        cursor = decode_cursor(edge.cursor, "after")
        assert (cursor.captured_at, cursor.event_id) == (row["captured_at"], row["event_id"])
    info = page.page_info
    assert (info.start_cursor, info.end_cursor) == (page.edges[0].cursor, page.edges[-1].cursor)


@pytest.mark.parametrize(
    ("args", "more", "has_next", "has_previous"),
    [
        ({"first": 3}, True, True, False),
        ({"first": 3}, False, False, False),
        ({"first": 3, "after": "CURSOR"}, False, False, True),
        ({"last": 3}, True, False, True),
        ({"last": 3, "before": "CURSOR"}, False, True, False),
    ],
)
def test_event_connection_page_info_follows_the_direction(
    args: dict[str, Any], more: bool, has_next: bool, has_previous: bool
) -> None:
    cursor = encode_cursor(datetime(2026, 3, 2, tzinfo=UTC), uuid4())
    args = {key: cursor if value == "CURSOR" else value for key, value in args.items()}
    page = EventConnection.from_rows(_rows(3), PageRequest.from_args(**args), more)
    assert (page.page_info.has_next_page, page.page_info.has_previous_page) == (
        has_next,
        has_previous,
    )


def test_an_empty_page_has_no_cursors() -> None:
    page = EventConnection.from_rows([], PageRequest.from_args(first=5), more=False)
    assert page.edges == []
    assert (page.page_info.start_cursor, page.page_info.end_cursor) == (None, None)


@pytest.mark.parametrize(
    ("edge", "node"), [("EventEdge", "Event"), ("PlateMatchEdge", "PlateMatch")]
)
def test_generic_edges_take_the_plain_field_path(edge: str, node: str) -> None:
    # A page's cost is per edge: an edge must be read as plain attributes
    # (no is_type_of check, no resolver), whatever generic it was made from.
    edge_type = build_schema()._schema.type_map[edge]
    assert isinstance(edge_type, GraphQLObjectType) and edge_type.is_type_of is None
    for field in ("cursor", "node"):
        assert plain_plan(edge_type, field) is not None
    node_plan = plain_plan(edge_type, "node")
    assert node_plan is not None and node_plan.object_type is not None
    assert node_plan.object_type.name == node


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"first": 0}, "first"),
        ({"first": MAX_PAGE + 1}, "first"),
        ({"last": -1}, "last"),
        ({"first": 5, "last": 5}, "last"),
        ({"after": "a", "before": "b"}, "before"),
    ],
)
def test_page_limits(kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        PageRequest.from_args(**kwargs)  # type: ignore[arg-type]
    assert caught.value.argument == argument


def test_backward_page_is_recognised() -> None:
    page = PageRequest.from_args(last=10)
    assert page.backward and page.limit == 10 and page.cursor is None
    assert PageRequest.from_args().limit == 20


def test_window_checks() -> None:
    naive = datetime(2025, 1, 1)
    with pytest.raises(InvalidRequest, match="offset"):
        check_window(naive, None)
    start = datetime(2025, 1, 2, tzinfo=UTC)
    with pytest.raises(InvalidRequest) as caught:
        check_window(start, datetime(2025, 1, 1, tzinfo=UTC))
    assert caught.value.argument == "until"


def test_filters_normalize_and_bound_plates() -> None:
    assert EventFilter(plate="abc-123").to_query().plate == "ABC123"
    with pytest.raises(InvalidRequest):
        EventFilter(plate="A" * 21).to_query()
    with pytest.raises(InvalidRequest):
        LiveFilter(plate="--").to_query()
    with pytest.raises(InvalidRequest):
        LiveFilter(min_confidence=1.5).to_query()
