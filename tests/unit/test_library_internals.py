"""The fast paths over graphql-core's and Strawberry's internals, beside the
libraries' own paths: identical answers over a corpus, and the fast paths taken.

`gateway.graphql_core_internals` (plain fields read inside graphql-core's
loop) and `gateway.strawberry_internals` (which fields are plain attributes;
the websocket operation a subscription runs for) rely on what the libraries
do not promise. Here each query of a corpus runs with the lean execution
context and with Strawberry's own, each subscription of a corpus is rendered
by a shared shape (read off its plan, and executed by graphql-core) and by
Strawberry's per-event execution, and the answers must be the same: data
with its key order, and errors (message, locations, path, code). An upgrade
that changes what the fast paths rely on fails here, loudly.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import json
import re
import warnings
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import pytest
import strawberry
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.types.nodes import Selection

from gateway.errors import ErrorCodes
from gateway.graphql_core_internals import LeanExecutionContext, plain_plan
from gateway.graphql_schema import build_schema
from gateway.strawberry_internals import graphql_core_schema, plain_attribute
from gateway.websocket import SharedShape
from schema.graphql.enums import Direction, VehicleType
from schema.graphql.inputs import LiveFilter
from schema.graphql.types import Camera, Event, Plate

# ------------------------------------------------------------- the corpus: types

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _camera(**changes: Any) -> Camera:
    fields: dict[str, Any] = {
        "id": strawberry.ID("cam-7"),
        "site_id": "DC1",
        "first_seen": AT,
        "last_seen": AT,
        "read_count": 3,
    }
    return Camera(**(fields | changes))


def _plate(**changes: Any) -> Plate:
    fields: dict[str, Any] = {
        "text": "ABC123",
        "first_seen": AT,
        "last_seen": AT,
        "read_count": 9,
        "last_region": "US-FL",
        "last_camera_id": "cam-7",
    }
    return Plate(**(fields | changes))


def _event(n: int, **changes: Any) -> Event:
    fields: dict[str, Any] = {
        "id": strawberry.ID(f"00000000-0000-4000-8000-{n:012d}"),
        "captured_at": AT,
        "camera_id": "cam-7",
        "site_id": "DC1",
        "track_id": f"t-{n}",
        "plate_text": "ABC-123",
        "plate_normalized": "ABC123",
        "plate_confidence": 0.93,
        "plate_region": "US-FL",
        "vehicle_type": VehicleType.CAR,
        "vehicle_type_text": "car",
        "vehicle_make": "Toyota",
        "vehicle_model": None,
        "vehicle_color": "silver",
        "plate_image_url": "https://img.example/p.jpg",
        "vehicle_image_url": None,
        "frame_image_url": None,
        "latency_ms": 45,
        "quality_score": None,
        "frame_number": 0,
        "host_id": None,
        "roi": "lane-1",
        "direction": Direction.INBOUND,
        "direction_text": "inbound",
        "stored_at": None,
        "camera": _camera(),
        "plate": _plate(),
    }
    return Event(**(fields | changes))


# Reads as the feed and the resolvers build them, and reads with values the
# schema does not allow: those must fail as graphql-core fails them.
GOOD = [
    _event(1),
    _event(2, camera=None, plate=None, vehicle_type=None, direction=Direction.UNKNOWN),
    _event(3, site_id=None, camera=_camera(site_id=None), plate=_plate(read_count=0)),
    _event(4, vehicle_type=VehicleType.OTHER, plate_confidence=1, latency_ms=None),
    _event(5, vehicle_type="car", direction="inbound"),  # an enum's value stands for it
]
BAD = [
    _event(10, captured_at=None),  # non-null
    _event(11, plate_confidence="high"),  # not a float
    _event(12, camera=_camera(read_count=None)),  # non-null below a nullable object
    _event(13, plate=_plate(text=None)),
    _event(14, vehicle_type="boat"),  # not a value of the enum
    _event(15, latency_ms=2**40),  # beyond Int
    _event(16, camera=_camera(first_seen="yesterday")),  # not a datetime
]
ALL = GOOD + BAD


@strawberry.type
class Query:
    @strawberry.field
    def reads(self) -> list[Event]:
        return GOOD

    @strawberry.field
    def read(self, n: int) -> Event | None:
        return ALL[n]

    @strawberry.field
    def with_bad(self, n: int) -> list[Event] | None:
        return [*GOOD, ALL[n]]

    @strawberry.field
    async def later(self) -> Event:
        return GOOD[0]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def plate_detected(
        self, info: strawberry.Info, filter: LiveFilter | None = None
    ) -> AsyncGenerator[Event, None]:
        # As the gateway's resolver does: the selection for the shared shape.
        info.context["selected"] = info.selected_fields
        for event in ALL:
            yield event


def _schema(lean: bool) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=[ErrorCodes],
        execution_context_class=LeanExecutionContext if lean else None,
    )


OWN = _schema(lean=False)  # Strawberry's and graphql-core's own path
LEAN = _schema(lean=True)


def _answer(result: Any) -> str:
    """The response as a transport sends it, with its key order."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    return json.dumps(payload)


# ------------------------------------------------------------- queries

# A schema of its own: resolvers beside plain fields, enums, non-null objects.


@strawberry.enum
class Colour(Enum):
    RED = "red"


@strawberry.type
class Inner:
    name: str
    count: int | None
    colour: Colour | None


@strawberry.type
class Outer:
    at: datetime
    label: str
    inner: Inner | None
    required: Inner

    @strawberry.field
    def computed(self) -> str:
        return self.label.upper()


def _outer(**changes: Any) -> Outer:
    fields: dict[str, Any] = {
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "label": "a",
        "inner": Inner(name="x", count=None, colour=Colour.RED),
        "required": Inner(name="y", count=2, colour=None),
    }
    fields.update(changes)
    return Outer(**fields)


@strawberry.type
class SmallQuery:
    @strawberry.field
    def items(self) -> list[Outer]:
        return [_outer(), _outer(inner=None)]

    # Values the types do not allow: the errors must be the ordinary ones.
    @strawberry.field
    def null_label(self) -> Outer | None:
        return _outer(label=None)

    @strawberry.field
    def null_inner_name(self) -> Outer | None:
        return _outer(inner=Inner(name=None, count=1, colour=None))  # type: ignore[arg-type]

    @strawberry.field
    def null_required(self) -> Outer | None:
        return _outer(required=None)

    @strawberry.field
    def bad_count(self) -> Outer | None:
        return _outer(inner=Inner(name="z", count="many", colour=None))  # type: ignore[arg-type]

    @strawberry.field
    async def later(self) -> Outer:
        return _outer()


SMALL_QUERIES = [
    "{ items { at label computed inner { name count colour } required { name count } } }",
    "{ items { label inner { name } } }",
    "{ items { required { name } } }",
    "{ items { inner { count } } }",
    "{ later { at label inner { name colour } required { count } } }",
    "{ items { ...F } } fragment F on Outer { label inner { ... on Inner { name } } }",
    "{ items { label } nullLabel { at label } }",
    "{ nullInnerName { label inner { count name } } }",
    "{ nullRequired { label required { name } } }",
    "{ badCount { inner { name count } } items { label } }",
    "{ items { label @skip(if: true) at } }",
]


@pytest.mark.parametrize("query", SMALL_QUERIES)
async def test_small_queries_answer_as_graphql_core_does(query: str) -> None:
    own = await strawberry.Schema(query=SmallQuery, extensions=[ErrorCodes]).execute(query)
    lean = await strawberry.Schema(
        query=SmallQuery, extensions=[ErrorCodes], execution_context_class=LeanExecutionContext
    ).execute(query)
    assert _answer(lean) == _answer(own)


EVENT_FIELDS = """id capturedAt cameraId siteId trackId plateText plateNormalized
  plateConfidence plateRegion vehicleType vehicleTypeText vehicleMake vehicleModel
  vehicleColor plateImageUrl vehicleImageUrl frameImageUrl latencyMs qualityScore
  frameNumber hostId roi direction directionText storedAt"""
NESTED = "camera { id siteId firstSeen lastSeen readCount } plate { text firstSeen lastSeen readCount lastRegion lastCameraId }"  # noqa: E501
QUERIES: list[tuple[str, dict[str, Any]]] = [
    (f"{{ reads {{ {EVENT_FIELDS} {NESTED} }} }}", {}),
    ("{ reads { id } }", {}),
    ("{ reads { a: id b: id plate: plateText camera { cam: id site: siteId } } }", {}),
    ("{ reads { __typename id camera { __typename id } plate { __typename } } }", {}),
    (
        "{ reads { ...R camera { ...C } } } fragment R on Event { id plateText "
        "... on Event { vehicleType direction } } fragment C on Camera { id readCount }",
        {},
    ),
    ("{ reads { camera { id } camera { siteId readCount } id } }", {}),
    ("{ reads { id id plateText } }", {}),
    (
        "query($s: Boolean!, $i: Boolean!) { reads { id @skip(if: $s) "
        "plateText @include(if: $i) camera @include(if: $i) { id } "
        "plate @skip(if: $i) { text } } }",
        {"s": True, "i": False},
    ),
    (
        "query($s: Boolean!, $i: Boolean!) { reads { id @skip(if: $s) "
        "plateText @include(if: $i) camera @include(if: $i) { id } "
        "plate @skip(if: $i) { text } } }",
        {"s": False, "i": True},
    ),
    ("{ reads { id @skip(if: true) plate @include(if: false) { text } cameraId } }", {}),
    ("{ later { id camera { id readCount } plate { text } } reads { id } }", {}),
    *(
        (f"query($n: Int!) {{ read(n: $n) {{ {EVENT_FIELDS} {NESTED} }} }}", {"n": n})
        for n in range(len(ALL))
    ),
    *(
        ("query($n: Int!) { withBad(n: $n) { id capturedAt camera { readCount } } }", {"n": n})
        for n in range(len(ALL))
    ),
    (
        "query($n: Int!) { read(n: $n) { plate { text } plateConfidence } reads { id } }",
        {"n": len(GOOD) + 1},  # a confidence that is not a float
    ),
]


@pytest.mark.parametrize(("query", "variables"), QUERIES)
async def test_queries_answer_as_graphql_core_does(query: str, variables: dict[str, Any]) -> None:
    own = await OWN.execute(query, variable_values=variables)
    lean = await LEAN.execute(query, variable_values=variables)
    assert _answer(lean) == _answer(own)


async def test_the_bad_reads_are_errors() -> None:
    # Otherwise the corpus above would compare only the easy half.
    query = f"query($n: Int!) {{ read(n: $n) {{ {EVENT_FIELDS} {NESTED} }} }}"
    for n in range(len(ALL)):
        result = await OWN.execute(query, variable_values={"n": n})
        assert bool(result.errors) is (n >= len(GOOD)), n


class _Counting(LeanExecutionContext):
    """The lean context, noting each field it leaves to graphql-core."""

    slow: ClassVar[list[str]] = []

    def execute_field(self, parent_type: Any, source: Any, details: Any, *args: Any) -> Any:
        _Counting.slow.append(f"{parent_type.name}.{details[0].node.name.value}")
        return super().execute_field(parent_type, source, details, *args)


async def test_plain_fields_take_the_fast_path() -> None:
    # Without this the fast path could stop reading anything itself, every
    # test above would still pass, and a page of reads cost what it did
    # without it.
    schema = strawberry.Schema(query=Query, execution_context_class=_Counting)
    _Counting.slow.clear()
    result = await schema.execute(f"{{ reads {{ {EVENT_FIELDS} {NESTED} }} }}")
    assert not result.errors
    assert _Counting.slow == ["Query.reads"]


def test_the_gateways_types_are_plain() -> None:
    schema = graphql_core_schema(build_schema())
    types = schema.type_map

    def plain(name: str) -> set[str]:
        fields = types[name].fields  # type: ignore[attr-defined]
        return {f for f in fields if plain_plan(types[name], f) is not None}  # type: ignore[arg-type]

    assert plain("Event") == set(types["Event"].fields)  # type: ignore[attr-defined]
    # reads, silent, usualGapSeconds and readsPerHour have resolvers (the reader's loaders).
    assert plain("Camera") == {"id", "siteId", "firstSeen", "lastSeen", "readCount"}
    assert plain("Plate") == {
        "text",
        "firstSeen",
        "lastSeen",
        "readCount",
        "lastRegion",
        "lastCameraId",
    }


# ------------------------------------------------------------- plain attributes


class _Never(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


class _Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Kinds:
    plain: str
    renamed: str = strawberry.field(name="other")
    guarded: str = strawberry.field(permission_classes=[_Never])
    extended: str = strawberry.field(extensions=[_Upper()])

    @strawberry.field
    def resolved(self) -> str:
        return self.plain

    @strawberry.field
    def with_argument(self, n: int = 1) -> str:
        return self.plain * n


@strawberry.type
class KindsQuery:
    @strawberry.field
    def kinds(self) -> Kinds:
        return Kinds(plain="a", renamed="b", guarded="c", extended="d")


def test_only_fields_that_read_an_attribute_are_plain() -> None:
    kinds = graphql_core_schema(strawberry.Schema(query=KindsQuery)).type_map["Kinds"]
    found = {
        name: attribute.name if (attribute := plain_attribute(field)) else None
        for name, field in kinds.fields.items()  # type: ignore[attr-defined]
    }
    assert found == {
        "plain": "plain",
        "other": "renamed",
        "guarded": None,
        "extended": None,
        "resolved": None,
        "withArgument": None,
    }


async def test_permissions_and_extensions_answer_as_graphql_core_does() -> None:
    query = "{ kinds { plain other extended resolved withArgument(n: 2) guarded } }"
    own = await strawberry.Schema(query=KindsQuery).execute(query)
    lean = await strawberry.Schema(
        query=KindsQuery, execution_context_class=LeanExecutionContext
    ).execute(query)
    assert own.errors and own.errors[0].message == "no"
    assert _answer(lean) == _answer(own)


async def test_field_middleware_turns_the_fast_path_off() -> None:
    class Shout(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            value = _next(root, info, *args, **kwargs)
            return value.upper() if isinstance(value, str) else value

    lean = strawberry.Schema(
        query=Query, extensions=[Shout], execution_context_class=LeanExecutionContext
    )
    result = await lean.execute("{ later { plateText camera { siteId } } }")
    assert result.data == {"later": {"plateText": "ABC-123", "camera": {"siteId": "DC1"}}}


# ------------------------------------------------------------- subscriptions

WATCH = """subscription Watch($c: String, $withPlate: Boolean!) {
  plateDetected(filter: {cameraId: $c}) {
    __typename readId: id ...Where vehicleType
    plate @include(if: $withPlate) { text readCount }
    camera @skip(if: $withPlate) { id siteId __typename }
    latencyMs @skip(if: false) frameNumber @include(if: false)
  }
}
fragment Where on Event { cameraId siteId capturedAt ... on Event { direction } }"""
SUBSCRIPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("subscription { plateDetected { id capturedAt } }", {}),
    (f"subscription {{ plateDetected {{ {EVENT_FIELDS} {NESTED} }} }}", {}),
    (WATCH, {"c": "cam-7", "withPlate": True}),
    (WATCH, {"c": None, "withPlate": False}),
    ("subscription { live: plateDetected { a: id b: id c: plateConfidence } }", {}),
    # Two selections of one response key: graphql-core merges them, no plan.
    ("subscription { plateDetected { camera { id } camera { siteId } id } }", {}),
]


async def _strawberry_results(document: str, variables: dict[str, Any]) -> tuple[list[str], Any]:
    """Strawberry's per-event execution of `document`, and the selection its resolver saw."""
    context: dict[str, Any] = {}
    results = await OWN.subscribe(document, variable_values=variables, context_value=context)
    assert not isinstance(results, Exception), results
    answers = [_answer(result) async for result in results]  # type: ignore[union-attr]
    return answers, context["selected"]


def _shape(document: str, variables: dict[str, Any], selected: list[Selection] | None) -> Any:
    return SharedShape(LEAN, (document, None, json.dumps(variables, sort_keys=True)), selected)


def _ordered(text: str) -> Any:
    """The JSON value of `text` with every object's keys in their order."""
    return json.loads(text, object_pairs_hook=lambda pairs: pairs)


@pytest.mark.parametrize(("document", "variables"), SUBSCRIPTIONS)
async def test_shared_shapes_render_as_strawberry_executes(
    document: str, variables: dict[str, Any]
) -> None:
    expected, selected = await _strawberry_results(document, variables)
    planned = _shape(document, variables, selected)
    executed = _shape(document, variables, None)
    assert not executed.planned
    assert len(expected) == len(ALL)
    for event, answer in zip(ALL, expected, strict=True):
        assert _ordered(planned.render(event)) == _ordered(answer)
        assert _ordered(executed.render(event)) == _ordered(answer)


@pytest.mark.parametrize(("document", "variables"), SUBSCRIPTIONS[:-1])
async def test_planned_reads_are_not_executed(
    document: str, variables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without this the plans could stop covering anything, the test above
    # would still pass, and each read cost an execution per shape again.
    _, selected = await _strawberry_results(document, variables)
    shape = _shape(document, variables, selected)
    assert shape.planned

    def refuse(*_: Any) -> Any:
        raise AssertionError("a planned read was executed by graphql-core")

    monkeypatch.setattr("gateway.websocket.execute_subscription_event", refuse)
    for event in GOOD:
        assert "errors" not in json.loads(shape.render(event))


# ------------------------------------------------------------- the fences hold

# What only the fences may use: library modules (and everything below them)
# or names in a module, the executor's methods graphql-core calls private,
# attributes and slots of Strawberry and pydantic objects, and the key under
# which Strawberry keeps a field's definition.
INTERNAL_MODULES = (
    "strawberry.schema.schema",
    "strawberry.schema.schema_converter",
    "strawberry.subscriptions",
    "strawberry.types.field",
    "graphql.execution.executor",
)
INTERNAL_NAMES = {
    "strawberry.asgi": {"ASGIWebSocketAdapter"},
    "strawberry.http.exceptions": {"WebSocketDisconnected"},
    "strawberry.resolvers": {"is_default_resolver"},
    "pydantic_core": {"SchemaValidator"},
}
EXECUTOR_INTERNALS = {
    "collect_and_execute_subfields",
    "execute_field",
    "execute_fields",
    "handle_field_error",
    "settle_in_background",
}
INTERNAL_ATTRIBUTES = {"_schema", "__pydantic_core_schema__", *EXECUTOR_INTERNALS}
INTERNAL_TEXTS = {
    "strawberry-definition",
    "__pydantic_fields_set__",
    "__pydantic_extra__",
    "__pydantic_private__",
}
FENCES = {
    "gateway/graphql_core_internals.py",
    "gateway/strawberry_internals.py",
    "schema/pydantic_internals.py",
}
PACKAGES = ("alpr", "core", "gateway", "ingestor", "schema", "sql")


def _internal_uses(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
            names = {alias.name for alias in node.names}
            if names & INTERNAL_NAMES.get(node.module, set()):
                found.append(f"{node.module}: {sorted(names)}")
        else:
            modules = []
        found += [m for m in modules if m.startswith(INTERNAL_MODULES)]
        if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            found.append(f".{node.attr}")
        if isinstance(node, ast.FunctionDef) and node.name in EXECUTOR_INTERNALS:
            found.append(f"def {node.name}")
        if isinstance(node, ast.Attribute) and ast.unparse(node) == "object.__new__":
            found.append("object.__new__")  # a model built without its validation
        if isinstance(node, ast.Constant) and node.value in INTERNAL_TEXTS:
            found.append(str(node.value))
    return found


def test_only_the_fences_use_library_internals() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = {
        str(path.relative_to(root)): uses
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if str(path.relative_to(root)) not in FENCES
        and (uses := _internal_uses(ast.parse(path.read_text())))
    }
    assert offenders == {}
    for fence in FENCES:  # the rule above still sees what they use
        assert _internal_uses(ast.parse((root / fence).read_text()))


# ------------------------------------------- siblings abandoned by a failed list
#
# When an item of a list fails a non-null field, graphql-core cancels the
# items still pending. A task cancelled before its first step never runs its
# coroutine, so the coroutines graphql-core created eagerly for it (its
# `await_completed` closure's object, that object's fields, their resolvers)
# are collected unawaited: nothing ran, nothing is lost, and Python warns
# "coroutine … was never awaited" whenever the garbage collector gets to
# them. graphql-core 3.3 does this on its own executor (its issue #269 is the
# same family); pyproject.toml ignores these warnings suite-wide, by the
# executor's and Strawberry's coroutine names only. This test is the reason:
# the lean context abandons exactly what graphql-core abandons, and the day
# graphql-core stops abandoning, it fails and the filter goes.

ABANDONED = ("Executor.", "LeanExecutionContext.", "GraphQLCoreConverter.")


def _list_with_a_failing_item(fail_after: int, leaves_after: int) -> Any:
    """`items: [Item!]` whose item 0 fails its non-null `bad` after `fail_after`
    loop turns, while every item's `leaves` list arrives after `leaves_after`."""
    from graphql import (
        GraphQLField,
        GraphQLList,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLSchema,
        GraphQLString,
    )

    def after(turns: int, value: Any) -> Any:
        async def resolve(source: Any, _info: Any) -> Any:
            for _ in range(turns):
                await asyncio.sleep(0)
            if value is None and source == 0:
                raise ValueError("item 0 fails")
            return value if value is not None else "ok"

        return resolve

    def items(n: int) -> GraphQLNonNull:
        return GraphQLNonNull(GraphQLList(GraphQLNonNull(n)))

    leaf = GraphQLObjectType("Leaf", {"v": GraphQLField(GraphQLString, resolve=after(1, "x"))})
    item = GraphQLObjectType(
        "Item",
        {
            "bad": GraphQLField(GraphQLNonNull(GraphQLString), resolve=after(fail_after, None)),
            "leaves": GraphQLField(items(leaf), resolve=after(leaves_after, [0, 1, 2, 3])),
        },
    )
    root = {"items": GraphQLField(GraphQLList(GraphQLNonNull(item)), resolve=after(0, [0, 1, 2]))}
    return GraphQLSchema(GraphQLObjectType("Query", root))


async def _abandoned(executor: type[Any] | None, schema: Any) -> list[str]:
    from graphql import execute, parse

    options = {"executor_class": executor} if executor is not None else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await execute(schema, parse("{ items { bad leaves { v } } }"), **options)  # type: ignore[misc]
        assert result.data == {"items": None}
        del result  # its error's traceback holds the abandoned frames
        await asyncio.sleep(0.01)
        gc.collect()
    names = (re.match(r"coroutine '([^']+)' was never awaited", str(w.message)) for w in caught)
    # The lean context's `_await_fields` is graphql-core's `get_results`.
    lean = {"LeanExecutionContext._await_fields": "Executor.execute_fields.<locals>.get_results"}
    return sorted(lean.get(m.group(1), m.group(1)) for m in names if m)


async def test_a_failed_list_abandons_what_graphql_core_abandons() -> None:
    leaked = 0
    for fail_after, leaves_after in [(0, 1), (1, 2), (0, 0), (2, 1)]:
        schema = _list_with_a_failing_item(fail_after, leaves_after)
        own = await _abandoned(None, schema)
        lean = await _abandoned(LeanExecutionContext, schema)
        assert lean == own
        assert all(
            name.startswith(ABANDONED) or name.endswith(".after.<locals>.resolve") for name in own
        )
        leaked += bool(own)
    # The day this fails, graphql-core keeps what it cancels: drop the filter.
    assert leaked
