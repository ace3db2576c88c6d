"""Defect 1 (contents): an audit record holds the operation as the server parsed it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import parse

from gateway.audit import MAX_RECORD_BYTES, bounded, parsed_operation
from gateway.graphql_schema import build_schema
from gateway.strawberry_internals import graphql_core_schema

SCHEMA = graphql_core_schema(build_schema())


def _parsed(
    document: str, variables: dict[str, Any] | None = None, name: str | None = None
) -> tuple[str, dict[str, Any]]:
    operation, fields = parsed_operation(SCHEMA, parse(document), name, variables)
    return operation, bounded(fields)


def test_inline_arguments_are_recorded() -> None:
    assert _parsed('{ events(filter: {plate: "X"}) { edges { cursor } } }') == (
        "query events",
        {"events": {"filter": {"plate": "X"}}},
    )


def test_arguments_from_declared_variables_with_defaults_and_never_undeclared_ones() -> None:
    document = """query ByPlate($f: EventFilter, $n: Int = 7) {
        events(filter: $f, first: $n) { edges { cursor } }
        stats { totalReads }
    }"""
    variables = {"f": {"plate": "Y", "since": "2024-01-01T00:00:00Z"}, "decoy": "Z" * 1000}
    assert _parsed(document, variables) == (
        "ByPlate",
        {
            "events": {"filter": {"plate": "Y", "since": "2024-01-01T00:00:00+00:00"}, "first": 7},
            "stats": {"hours": 24},  # the schema's default, as execution applies it
        },
    )


def test_the_name_is_the_documents_not_the_clients() -> None:
    document = "query Innocent { events(first: 1) { edges { cursor } } }"
    # A client may omit the name (the one operation runs) ...
    assert _parsed(document)[0] == "Innocent"
    # ... or pick among several; the record names the one picked.
    two = f"{document} query Other {{ stats {{ totalReads }} }}"
    assert _parsed(two, name="Other") == ("Other", {"stats": {"hours": 24}})
    # A name the document lacks runs nothing (graphql-core refuses it).
    assert _parsed(document, name="Elsewhere")[0] == "unknown"


def test_aliases_fragments_and_skipped_fields() -> None:
    document = """query ($skip: Boolean!) {
        a: events(filter: {plate: "A"}) { edges { cursor } }
        b: events(filter: {plate: "B"}) { edges { cursor } }
        ...More
        ... on Query { plate(text: "C") { text } }
        hidden: plate(text: "D") @skip(if: $skip) { text }
        shown: plate(text: "E") @include(if: $skip) { text }
    }
    fragment More on Query { event(id: "f") { id } }"""
    _, fields = _parsed(document, {"skip": True})
    assert fields == {
        "a: events": {"filter": {"plate": "A"}},
        "b: events": {"filter": {"plate": "B"}},
        "event": {"id": "f"},
        "plate": {"text": "C"},
        "shown: plate": {"text": "E"},
    }
    assert _parsed(document, {"skip": True})[0] == "query events,events,event,plate,plate"


def test_subscription_arguments_are_recorded() -> None:
    document = 'subscription Watch { plateDetected(filter: {plate: "W1"}) { id } }'
    assert _parsed(document) == ("Watch", {"plateDetected": {"filter": {"plate": "W1"}}})


def test_values_postgresql_cannot_store_are_replaced() -> None:
    _, fields = _parsed(
        "query ($p: String) { events(filter: {plate: $p}) { edges { cursor } } }",
        {"p": "A\x00B\ud800C"},
    )
    assert fields == {"events": {"filter": {"plate": "A\ufffdB\ufffdC"}}}


@pytest.mark.parametrize("size", [100, MAX_RECORD_BYTES, 5 * 1024 * 1024])
def test_a_record_is_capped(size: int) -> None:
    values = {"events": {"filter": {"plate": "é" * size}}}
    record = bounded(values)
    text = json.dumps(record)
    assert len(text) <= MAX_RECORD_BYTES
    if len(json.dumps(values)) <= MAX_RECORD_BYTES:
        assert record == values
    else:
        assert record["truncated"] is True
        assert record["bytes"] == len(json.dumps(values))
        assert record["head"].startswith('{"events": {"filter": {"plate": "\\u00e9')
