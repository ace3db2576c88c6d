"""Row-id cursors, import column mappings and rows, and where the alert
commands go in the command line: no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer
from typer.testing import CliRunner

from alpr import hotlist_commands
from core.hotlist_import import ColumnMap, RowProblem, RowRules, staged_row
from schema.errors import InvalidRequest
from schema.paging import decode_row_id, encode_cursor, encode_row_id

RULES = RowRules("exact", None, datetime(2026, 12, 1, tzinfo=UTC))


def test_row_id_cursors_round_trip_and_refuse_other_kinds() -> None:
    assert decode_row_id(encode_row_id("alert", 42), "alert", "after") == 42
    with pytest.raises(InvalidRequest, match="after"):
        decode_row_id(encode_row_id("entry", 42), "alert", "after")
    with pytest.raises(InvalidRequest):
        decode_row_id(encode_cursor(RULES.now, __import__("uuid").uuid4()), "alert", "after")
    with pytest.raises(InvalidRequest):
        decode_row_id("not a cursor", "alert", "after")


def test_the_default_mapping_knows_an_extract_and_keeps_the_rest() -> None:
    columns = ColumnMap().resolve(["LIC", "LIS", "LIT", "LIY", "NIC", "ORI", "OCA", "MKE", "Color"])
    assert columns == {
        "LIC": "plate",
        "LIS": "region",
        "LIT": "plate_type",
        "LIY": "plate_expiry_year",
        "NIC": "record_number",
        "ORI": "agency",
        "OCA": "case_number",
        "MKE": "record_type",
        "Color": "Color",
    }
    with pytest.raises(InvalidRequest, match="plate"):
        ColumnMap().resolve(["Kennzeichen"])
    with pytest.raises(InvalidRequest, match="field=HEADER"):
        ColumnMap.parse("plate")


def test_rows_are_normalized_or_refused_with_a_reason() -> None:
    columns = ColumnMap.parse("plate=Tag,reason=Why").resolve(["Tag", "Why", "Until", "Mode"])
    row = staged_row(2, {"Tag": "ab-12 3", "Why": "stolen", "Until": "20270101"}, columns, RULES)
    assert row[1] == "AB123" and row[12] is None  # "Until" is no known name
    assert row[8] == '{"Until": "20270101"}'  # not an entry field: kept in details
    for values, reason in [
        ({"Tag": "", "Why": "x"}, "missing plate"),
        ({"Tag": "AB1", "Why": ""}, "missing reason"),
        ({"Tag": "AB*", "Why": "x"}, "bad plate"),
        ({"Tag": "AB1", "Why": "x", "Mode": "lenient"}, "unknown match mode"),
    ]:
        with pytest.raises(RowProblem, match=reason):
            staged_row(3, values, columns, RULES)
    pattern = staged_row(4, {"Tag": "ab?1*", "Why": "x", "Mode": "WILDCARD"}, columns, RULES)
    assert (pattern[1], pattern[9]) == ("AB?1*", "wildcard")


def test_alert_commands_join_an_alerts_group_registered_before() -> None:
    app = typer.Typer()
    matcher = typer.Typer(invoke_without_command=True)

    @matcher.callback()
    def run(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            typer.echo("matcher runs")

    app.add_typer(matcher, name="alerts")
    hotlist_commands.register(app)
    assert [g.name for g in app.registered_groups] == ["alerts", "hotlist"]
    runner = CliRunner()
    assert "matcher runs" in runner.invoke(app, ["alerts"]).output
    assert "report" in runner.invoke(app, ["alerts", "--help"]).output
