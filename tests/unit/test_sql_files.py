"""The SQL files: migration naming, engine variants, named queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sql


def _columns(create_table: str) -> list[str]:
    body = create_table.split("CREATE TABLE plate_events (", 1)[1]
    lines = body.splitlines()[1:]
    return [
        line.split()[0] for line in lines[: next(i for i, x in enumerate(lines) if x[0] == ")")]
    ]


def test_each_engine_gets_one_migration_per_version() -> None:
    for engine in sql.ENGINES:
        versions = [m.version for m in sql.migrations(engine)]
        assert versions == sorted(set(versions))
        assert versions[0] == 1


def test_engine_variants_define_the_same_table() -> None:
    pg, ts = (sql.migrations(e)[0] for e in sql.ENGINES)
    assert pg.engine == "postgres" and ts.engine == "timescaledb"
    assert _columns(pg.sql) == _columns(ts.sql)
    assert "PRIMARY" in _columns(pg.sql)  # the composite key line is there


def test_shared_migrations_are_identical_across_engines() -> None:
    pg, ts = ({m.version: m for m in sql.migrations(e)} for e in sql.ENGINES)
    assert pg.keys() == ts.keys()  # a version with variants has one for each engine
    shared = [v for v, m in pg.items() if m.engine is None]
    assert [(v, pg[v].checksum) for v in shared] == [(v, ts[v].checksum) for v in shared]
    assert all(ts[v].engine is None for v in shared)


@pytest.mark.parametrize(
    "name",
    ["idx_plate_normalized", "idx_camera_time", "idx_site_time", "idx_track_id", "idx_captured_at"],
)
def test_document_index_names_exist(name: str) -> None:
    text = "\n".join(m.sql for m in sql.migrations("postgres"))
    assert re.search(rf"CREATE INDEX {name} ON plate_events", text)


def test_checksum_changes_with_content() -> None:
    first = sql.migrations("postgres")[0]
    changed = sql.Migration(first.version, first.name, first.engine, first.sql + "\n")
    assert changed.checksum != first.checksum


def test_named_parameters_become_positional_once() -> None:
    query = sql.Query.parse(
        "SELECT :plate::text, ':kept', \"col:x\" -- :comment\nWHERE a = :since AND b = :plate"
    )
    assert query.text == (
        "SELECT $1::text, ':kept', \"col:x\" -- :comment\nWHERE a = $2 AND b = $1"
    )
    assert query.params == ("plate", "since")
    assert query.bind(since=2, plate="ABC") == (query.text, "ABC", 2)


@pytest.mark.parametrize("values", [{"plate": 1}, {"plate": 1, "since": 2, "other": 3}])
def test_bind_refuses_a_missing_or_unknown_parameter(values: dict[str, int]) -> None:
    with pytest.raises(TypeError, match="query parameters"):
        sql.Query.parse("SELECT :plate, :since").bind(**values)


def test_fill_puts_values_in_slots_without_comment_lines() -> None:
    template = (
        "-- {about} the template\nSELECT '{kept}', \"{kept}\" -- {kept}\n"
        "FROM t WHERE {filter}\nORDER BY at {order}"
    )
    filter_ = "-- what the fragment does\na = :a\n  AND b = {later}"
    filled = sql.fill(template, filter=filter_, order="DESC")
    assert filled == (
        "SELECT '{kept}', \"{kept}\" -- {kept}\nFROM t WHERE a = :a\n  AND b = {later}\n"
        "ORDER BY at DESC"
    )
    assert sql.slots(filled) == {"later"}


@pytest.mark.parametrize("values", [{"filter": "x"}, {"filter": "x", "order": "y", "other": "z"}])
def test_fill_refuses_a_missing_or_unknown_slot(values: dict[str, str]) -> None:
    with pytest.raises(TypeError, match="template slots"):
        sql.fill("WHERE {filter} ORDER BY {order}", **values)


def test_a_template_runs_only_filled() -> None:
    with pytest.raises(ValueError, match="slot"):
        sql.Query.parse("SELECT * FROM t WHERE {filter}")
    blocks = sql.load_blocks("gateway")
    assert sql.slots(blocks["stats"]) and sql.slots(blocks["events_filter"])
    loaded = sql.load_queries("gateway")
    assert "ping" in loaded
    assert not {"stats", "events_filter", "unique_plates_days"} & set(loaded)


_POSITIONAL = re.compile(r"\$\d")


def _positional(source: str) -> list[str]:
    """The `$n` parameters of `source`, outside strings and comments."""
    code = re.sub(r"'(?:[^']|'')*'|--[^\n]*", "", source)
    return _POSITIONAL.findall(code)


@pytest.mark.parametrize(
    "module", [path.stem for path in sorted((Path(sql.__file__).parent / "queries").glob("*.sql"))]
)
def test_query_blocks_name_their_parameters(module: str) -> None:
    blocks = sql.load_blocks(module)
    assert blocks
    assert {name: found for name, source in blocks.items() if (found := _positional(source))} == {}
