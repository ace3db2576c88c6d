"""Documents parsed and validated once per query text.

Parsing and validating a document cost more than running a small query
(0.2-0.8 ms a request; what the cache gains end to end is in
bench/README.md), and clients repeat a few documents. This uses Strawberry's
documented extension hooks only: an `on_parse` that sets the execution
context's `graphql_document` (Strawberry then skips parsing) and an
`on_validate` that sets its `pre_execution_errors` (Strawberry then skips
validation), as Strawberry's own ParserCache and ValidationCache do.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension


class DocumentCache(SchemaExtension):
    """Reuse the parsed document of a query text that parsed and validated
    without errors before (bounded LRU, one per schema: the token limit and
    the validation rules are the schema's).

    Unlike Strawberry's ParserCache, a miss parses through Strawberry's own
    step, so a syntax error still becomes a GraphQL error with its code
    (`ErrorCodes`); only documents without errors are kept, so every error is
    found again by a fresh parse and validation.
    """

    def __init__(self, documents: OrderedDict[str, DocumentNode], maxsize: int) -> None:
        self.documents = documents
        self.maxsize = maxsize
        self.hit = False

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        document = self.documents.get(query) if query is not None else None
        if document is not None:
            self.documents.move_to_end(query)  # type: ignore[arg-type]
            ctx.graphql_document = document  # Strawberry then skips parsing
            self.hit = True
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if self.hit:
            ctx.pre_execution_errors = []  # validated when it was cached
        yield
        if self.hit or ctx.pre_execution_errors or ctx.query is None:
            return
        if ctx.graphql_document is not None:
            self.documents[ctx.query] = ctx.graphql_document
            if len(self.documents) > self.maxsize:
                self.documents.popitem(last=False)


def document_cache(maxsize: int) -> Callable[[], DocumentCache]:
    """A factory of `DocumentCache` extensions sharing one cache."""
    documents: OrderedDict[str, DocumentNode] = OrderedDict()
    return lambda: DocumentCache(documents, maxsize)
