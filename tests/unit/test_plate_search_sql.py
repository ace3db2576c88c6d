"""gateway.plate_search's statements: the three searches filled with one
filter and one column list."""

from __future__ import annotations

import pytest

from gateway.plate_search import _queries
from sql import load_blocks

FILTER = {"since", "until", "camera_id", "site_id", "region"}


@pytest.mark.parametrize(
    ("name", "own"),
    [
        ("plate_details", {"plates"}),
        ("wildcard_indexed", {"pattern", "limit", "offset"}),
        ("wildcard_scan", {"pattern", "limit", "offset", "scan_rows"}),
    ],
)
def test_each_search_has_the_filter_once(name: str, own: set[str]) -> None:
    query = _queries()[name]
    assert set(query.params) == FILTER | own
    assert query.text.count("EXISTS (") == 2  # seen at the camera/site, read in the window
    assert query.text.count(" AS cameras") == 1
    assert "{" not in query.text and "--" not in query.text


def test_fragments_are_not_statements() -> None:
    assert {"plate_columns", "plate_filter"} <= set(load_blocks("plate_search"))
    assert not {"plate_columns", "plate_filter"} & set(_queries())
