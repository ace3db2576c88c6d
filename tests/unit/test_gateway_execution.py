"""gateway.execution: the plain-field fast path answers exactly as graphql-core
does (same data, same errors, same paths), and the document cache keeps only
documents without errors."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from gateway.execution import LeanExecutionContext, document_cache, plain_plan
from gateway.graphql_schema import build_schema


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
class Query:
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


QUERIES = [
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


@pytest.mark.parametrize("query", QUERIES)
async def test_plain_fields_answer_as_graphql_core_does(query: str) -> None:
    ordinary = strawberry.Schema(query=Query)
    lean = strawberry.Schema(query=Query, execution_context_class=LeanExecutionContext)
    expected = await ordinary.execute(query)
    result = await lean.execute(query)
    assert result.data == expected.data
    assert [e.formatted for e in result.errors or []] == [
        e.formatted for e in expected.errors or []
    ]


def test_the_fast_path_covers_plain_fields_only() -> None:
    schema = strawberry.Schema(query=Query)._schema
    outer = schema.type_map["Outer"]
    plain = {name for name in outer.fields if plain_plan(outer, name) is not None}  # type: ignore[arg-type]
    assert plain == {"at", "label", "inner", "required"}  # not `computed`
    assert schema.query_type is not None
    assert plain_plan(schema.query_type, "items") is None


async def test_field_middleware_turns_the_fast_path_off() -> None:
    class Shout(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            value = _next(root, info, *args, **kwargs)
            return value.upper() if isinstance(value, str) else value

    lean = strawberry.Schema(
        query=Query, extensions=[Shout], execution_context_class=LeanExecutionContext
    )
    result = await lean.execute("{ later { label } }")
    assert result.data == {"later": {"label": "A"}}


async def test_cached_documents_still_answer_and_errors_are_never_cached() -> None:
    schema = build_schema()
    for _ in range(2):
        bad_syntax = await schema.execute("{ sites { id ")
        assert bad_syntax.errors
        assert bad_syntax.errors[0].extensions == {"code": "BAD_USER_INPUT"}
        unknown = await schema.execute("{ nope }")
        assert unknown.errors
        assert unknown.errors[0].extensions == {"code": "BAD_USER_INPUT"}


async def test_document_cache_is_bounded_and_keeps_valid_documents() -> None:
    make = document_cache(2)
    schema = strawberry.Schema(query=Query, extensions=[make])
    cache = make().documents
    for query in ("{ later { label } }", "{ later { at } }", "{ nope }", "{ later { label } }"):
        await schema.execute(query)
    assert list(cache) == ["{ later { at } }", "{ later { label } }"]
    await schema.execute("{ items { label } }")
    assert list(cache) == ["{ later { label } }", "{ items { label } }"]
    again = await schema.execute("{ items { label } }")
    assert again.data is not None
    assert again.data["items"][0] == {"label": "a"}
