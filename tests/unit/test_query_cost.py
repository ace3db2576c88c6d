"""The query cost: pages multiplied through nesting, with aliases, fragments and variables."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSchema, parse, validate

from core.settings import GatewaySettings
from gateway.graphql_schema import build_schema
from gateway.query_cost import LIST_BOUND, operation_cost
from gateway.strawberry_internals import graphql_core_schema
from schema.paging import DEFAULT_PAGE

NESTED = (
    "events(first: 500) { edges { node { camera { "
    "reads(first: 500) { edges { node { id } } } } } } }"
)
LIMIT = GatewaySettings().max_query_cost


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return graphql_core_schema(build_schema())


def cost(
    schema: GraphQLSchema,
    query: str,
    variables: dict[str, Any] | None = None,
    name: str | None = None,
) -> int:
    document = parse(query)
    assert validate(schema, document) == [], query  # the cost is of valid documents
    return operation_cost(schema, document, name, variables)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # A page costs its size; objects inside a read (camera, plate) add nothing.
        ("{ events(first: 500) { edges { node { id camera { id } plate { text } } } } }", 500),
        ('{ plate(text: "A") { text reads(first: 100) { edges { node { id } } } } }', 100),
        # ... and a page inside each read of a page multiplies.
        (f"{{ {NESTED} }}", 500 * (1 + 500)),
        ("{ events { edges { node { id } } } }", DEFAULT_PAGE),
        ("{ events(last: 7) { edges { node { id } } } }", 7),
        ("{ events(first: 5) { pageInfo { hasNextPage } } }", 5),
        # Single objects and scalars cost nothing by themselves.
        ('{ event(id: "x") { id camera { id } } stats { totalReads } }', 0),
        # Lists without a page argument count LIST_BOUND.
        ("{ sites { id } }", LIST_BOUND),
        ("{ sites { cameras { id } } }", LIST_BOUND * (1 + LIST_BOUND)),
        ("{ stats { readsPerHour { hour } } }", LIST_BOUND),
        ('{ plate(text: "A") { cameras { camera { id } } } }', LIST_BOUND),
        # The schema's defaults: plateSearch 20, auditLog 100, similar 10.
        ('{ plateSearch(query: "A") { edges { node { plate } } } }', 20),
        ("{ auditLog { id } }", 100),
        ('{ plate(text: "A") { similar { plate } } }', 10),
        ('{ plate(text: "A") { similar(first: 3) { plate cameras } } }', 3),
        # Introspection costs nothing.
        ("{ __schema { types { fields { name } } } __typename }", 0),
    ],
)
def test_cost_of_documents(schema: GraphQLSchema, query: str, expected: int) -> None:
    assert cost(schema, query) == expected


def test_every_alias_counts(schema: GraphQLSchema) -> None:
    thirty = " ".join(f"a{i}: {NESTED}" for i in range(30))
    assert cost(schema, f"{{ {thirty} }}") == 30 * 500 * 501


def test_every_fragment_spread_counts(schema: GraphQLSchema) -> None:
    page = "fragment P on Query { events(first: 10) { edges { node { ...R } } } }"
    reads = "fragment R on Event { camera { reads(first: 4) { edges { node { id } } } } }"
    query = f"{{ ...P a: events(first: 2) {{ edges {{ node {{ ...R }} }} }} }} {page} {reads}"
    assert cost(schema, query) == 10 * (1 + 4) + 2 * (1 + 4)
    twice = f"{{ ...P ... on Query {{ ...P }} }} {page} {reads}"
    assert cost(schema, twice) == 2 * 10 * (1 + 4)


def test_variables_and_their_defaults_are_read(schema: GraphQLSchema) -> None:
    query = """query($n: Int, $m: Int = 30, $k: Int) {
      events(first: $n) { edges { node { plate { reads(first: $m) { edges { node { id } } } } } } }
      b: events(last: $k) { edges { node { id } } } }"""
    assert cost(schema, query, {"n": 100}) == 100 * 31 + DEFAULT_PAGE
    assert cost(schema, query, {"n": 100, "m": 2, "k": 9}) == 100 * 3 + 9
    assert cost(schema, query, {"n": 100.0, "m": None}) == 100 * (1 + DEFAULT_PAGE) + DEFAULT_PAGE
    # Values that coercion refuses later cost as if not given; none lowers the cost.
    assert cost(schema, query, {"n": "500", "k": True}) == 20 * 31 + DEFAULT_PAGE
    assert cost(schema, query, {"n": -1000, "k": -5}) == 0


def test_the_operation_named_is_the_one_costed(schema: GraphQLSchema) -> None:
    query = f"query Small {{ sites {{ id }} }} query Big {{ {NESTED} }}"
    assert cost(schema, query, name="Small") == LIST_BOUND
    assert cost(schema, query, name="Big") == 500 * 501
    assert operation_cost(schema, parse(query), "Missing") == 0
    assert operation_cost(schema, parse(query), None) == 0  # ambiguous: execution says so


def test_subscriptions_cost_their_selection_per_read(schema: GraphQLSchema) -> None:
    query = "subscription { plateDetected { id plate { reads(first: 50) { edges { cursor } } } } }"
    assert cost(schema, query) == 50


def test_cyclic_fragments_do_not_hang(schema: GraphQLSchema) -> None:
    # Validation refuses cycles; the cost function must not loop before it does.
    document = parse(
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A sites { id } }"
    )
    assert operation_cost(schema, document) == LIST_BOUND


def _nested(levels: int) -> str:
    return "{ " + "... on Query { " * levels + "sites { id }" + " }" * levels + " }"


def test_the_deepest_document_the_parser_takes(schema: GraphQLSchema) -> None:
    # graphql-core refuses a document nested deeper than its stack allows;
    # the walk takes fewer frames a level than the parser.
    levels = 10
    while True:
        try:
            document = parse(_nested(levels + 10))
        except GraphQLError:
            break
        levels += 10
    document = parse(_nested(levels))
    assert operation_cost(schema, document) == LIST_BOUND


def test_the_default_limit_admits_the_documented_uses(schema: GraphQLSchema) -> None:
    page_of_500 = """{ events(first: 500) { edges { cursor node { id capturedAt plateText
        camera { id siteId lastSeen } plate { text readCount lastSeen } } }
        pageInfo { hasNextPage endCursor } } }"""
    dashboard = """{ stats { totalReads uniquePlates readsPerHour { hour reads } }
        sites { id cameraCount readCount cameras { id readCount lastSeen } }
        events(first: 50) { edges { node { id plateText cameraId } } } }"""
    for query in (
        page_of_500,
        '{ plate(text: "ABC123") { text cameras { cameraId } reads(first: 100) '
        "{ edges { node { id } } } similar { plate } } }",
        dashboard,
        "{ events(first: 100) { edges { node { plate { reads(first: 50) "
        "{ edges { cursor } } } } } } }",
    ):
        assert cost(schema, query) <= LIMIT, query
    nested = f"{{ {NESTED} }}"
    assert cost(schema, nested) > LIMIT
