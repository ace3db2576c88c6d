"""The GraphQL schema: exported SDL up to date, page rules, input checks.
(Cursors: test_paging.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.graphql_schema import sdl
from schema.errors import InvalidRequest
from schema.filters import check_window
from schema.graphql.inputs import EventFilter, LiveFilter
from schema.paging import MAX_PAGE, PageRequest

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
