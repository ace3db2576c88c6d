"""gateway.document_cache: cached documents answer as fresh ones, the cache is
bounded, and documents with errors are never cached."""

from __future__ import annotations

import strawberry

from gateway.document_cache import document_cache
from gateway.graphql_schema import build_schema


@strawberry.type
class Item:
    label: str
    at: str


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(label="a", at="x"), Item(label="b", at="y")]

    @strawberry.field
    async def later(self) -> Item:
        return Item(label="a", at="x")


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
