"""gateway.queries: the statements made from gateway.sql's templates are what
the templates promise (one per unique-plates source for stats), the events
page binds what it is given, and the export and alpr_reads select with the
same filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import sql
from gateway.export import _export_query
from gateway.queries import (
    QUERIES,
    StatsWindow,
    filter_params,
    unique_plates_source,
)
from schema.filters import EventQuery
from sql import Query

FILTER = set(filter_params(EventQuery()))
KEYS = {"plate": "plate_normalized_text", "camera_id": "camera_id", "site_id": "site_id"}
# Each non-key condition of the events filter, to be found once in every statement.
CONDITIONS = [
    "captured_at >= COALESCE(:since::timestamptz, '-infinity')",
    "captured_at < COALESCE(:until::timestamptz, 'infinity')",
    "(:direction::text IS NULL OR lower(direction) = :direction)",
    "(:vehicle_make::text IS NULL OR lower(vehicle_make) = lower(:vehicle_make))",
    "(:vehicle_color::text IS NULL OR lower(vehicle_color) = lower(:vehicle_color))",
    "(:vehicle_type::text IS NULL OR lower(vehicle_type) = :vehicle_type)",
    "plate_confidence >= COALESCE(:min_confidence::float8, 0)",
]


def _named(query: Query) -> str:
    """The text with each `$n` written as the name it binds."""
    return re.sub(r"\$(\d+)", lambda m: f":{query.params[int(m[1]) - 1]}", query.text)


def _where(query: Query) -> list[str]:
    """The top-level conditions of the WHERE clause, in order."""
    clause = _named(query).split("\nWHERE ", 1)[1]
    return [c.strip() for c in re.split(r"\n  AND ", clause)]


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize(
    "query",
    [
        EventQuery(plate="ABC123", camera_id="c", site_id="s"),
        EventQuery(camera_id="c", direction="inbound"),
        EventQuery(since=datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_an_events_page_binds_the_filter_the_cursor_and_the_walk(
    query: EventQuery, backward: bool
) -> None:
    params = {
        **filter_params(query),
        "cursor_at": None,
        "cursor_id": None,
        "limit": 21,
        "backward": backward,
        "offset": 0,
    }
    _, *values = QUERIES["events_page"].bind(**params)
    assert dict(zip(QUERIES["events_page"].params, values, strict=True)) == params


def test_the_export_selects_with_the_events_filter_every_key_optional() -> None:
    export = _export_query()
    assert set(export.params) == FILTER
    keys = [f"(:{f}::text IS NULL OR {c} = :{f})" for f, c in KEYS.items()]
    filter_and_order = [*keys, *CONDITIONS]
    filter_and_order[-1] += "\nORDER BY captured_at, event_id;"
    assert _where(export) == filter_and_order


def _function(
    name: str, migration_file: str = "0050_reads_by_day.sql", replaced: bool = False
) -> str:
    """The text of function `name` in the migration that defines (or replaces) it."""
    migration = Path(sql.__file__).parent / "migrations" / migration_file
    text = migration.read_text()
    create = "CREATE OR REPLACE FUNCTION" if replaced else "CREATE FUNCTION"
    body = text[text.index(f"{create} {name}(") :]
    return body[: body.index("\n$$;")]


def _as_read_by_function(condition: str) -> str:
    """An events filter condition as a migration's function writes it."""
    columns = "captured_at|camera_id|site_id|direction|vehicle_make|vehicle_color|vehicle_type"
    written = re.sub(r":([a-z_]+)(::[a-z0-9]+)?", r"p_\1", condition)
    return re.sub(
        rf"(?<![\w.])({columns}|plate_normalized_text|plate_confidence)\b", r"e.\1", written
    )


@pytest.mark.parametrize("walk", ["ASC", "DESC"])
@pytest.mark.parametrize(
    ("migration", "source"),
    [
        ("0050_reads_by_day.sql", "SELECT * FROM plate_events"),
        ("0072_plate_copy.timescaledb.sql", "SELECT * FROM plate_events"),
        ("0072_plate_copy.timescaledb.sql", "FROM plate_copy AS e"),
    ],
)
def test_the_days_are_read_with_the_events_filter(walk: str, migration: str, source: str) -> None:
    """alpr_reads repeats the events filter (a migration cannot take a
    fragment): each condition, its parameters as the function's arguments
    and its columns the read's, appears once in each direction's statement
    over each table it reads (TimescaleDB's reads the plate-ordered copy too)."""
    body = _function("alpr_reads", migration, replaced=migration.startswith("0072"))
    order = {
        "ASC": "ORDER BY e.captured_at, e.event_id\n",
        "DESC": "ORDER BY e.captured_at DESC, e.event_id DESC\n",
    }[walk]
    statements = [s for s in body.split("RETURN QUERY")[1:] if source in s and order in s]
    assert len(statements) == 1
    keys = [f"(:{f}::text IS NULL OR {c} = :{f})" for f, c in KEYS.items()]
    for condition in [*keys, *CONDITIONS]:
        assert statements[0].count(_as_read_by_function(condition)) == 1, condition


def test_a_camera_day_on_plain_postgresql_reads_with_the_events_filter() -> None:
    """The keyset statement that reads a camera's day on plain PostgreSQL
    repeats the events filter: the camera and the window as its index bounds,
    every other condition once."""
    body = _function("alpr_events_page", "0064_events_page.postgres.sql")
    statement = body[body.index("FROM plate_events AS e") :]
    keys = [f"(:{f}::text IS NULL OR {c} = :{f})" for f, c in KEYS.items() if f != "camera_id"]
    for condition in [*keys, *CONDITIONS[2:]]:
        assert statement.count(_as_read_by_function(condition)) == 1, condition
    for bound in (
        "e.camera_id = p_camera_id",
        "e.captured_at >= p_since",
        "e.captured_at < p_until",
    ):
        assert statement.count(bound) == 1, bound


STATS_SOURCES = ("all", "camera", "site", "days", "none")


def _split_at_unique_plates(query: Query) -> tuple[str, str, str]:
    """The text before the unique plates expression, the expression, the text after."""
    head, rest = _named(query).split("SELECT totals.*, hours.*,\n", 1)
    expression, tail = rest.split(" AS unique_plates,", 1)
    return head, expression.strip(), tail


def test_stats_variants_differ_only_in_the_unique_plates_source() -> None:
    variants = {name for name in QUERIES if name.startswith("stats")}
    assert variants == {f"stats_{source}" for source in STATS_SOURCES}
    shapes = {_split_at_unique_plates(QUERIES[name])[::2] for name in variants}
    assert len(shapes) == 1
    assert all("CASE :" not in _named(QUERIES[name]) for name in variants)


WINDOW = datetime(2025, 1, 1, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "camera_id", "site_id", "source", "table"),
    [
        (None, None, None, "all", "plates_hourly"),
        (None, "c", "s", "camera", "camera_plate_counts"),
        (None, None, "s", "site", "site_plate_counts"),
        (WINDOW, None, None, "days", "plate_day_bits"),
        (WINDOW, "c", None, "none", None),
        (WINDOW, None, "s", "none", None),
    ],
)
def test_stats_counts_unique_plates_from_the_table_of_its_grain(
    since: datetime | None,
    camera_id: str | None,
    site_id: str | None,
    source: str,
    table: str | None,
) -> None:
    chosen, extra = unique_plates_source(since, None, camera_id, site_id)
    assert chosen == source
    query = QUERIES[f"stats_{source}"]
    expression = _split_at_unique_plates(query)[1]
    tables = ["plates_hourly", "camera_plate_counts", "site_plate_counts", "plate_day_bits"]
    assert [t for t in tables if f"FROM {t}" in expression] == ([table] if table else [])
    assert (expression == "NULL::bigint") == (table is None)
    params: dict[str, Any] = {
        **StatsWindow.split(since, None).params(camera_id, site_id),
        **extra,
        "series_start": WINDOW,
        "series_end": WINDOW,
        "history": since is None and site_id is None,
    }
    assert set(query.params) == set(params)
    query.bind(**params)
