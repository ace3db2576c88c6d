"""The GraphQL schema: merged Query parts, the Subscription, and the guard rails.

To add root query fields (e.g. plate search), define a `@strawberry.type`
class of fields and append it to `QUERY_PARTS`; `merge_types` builds one
`Query` from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import strawberry
from graphql import ASTValidationRule, Executor, validate
from graphql.error import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from core.settings import GatewaySettings
from gateway.audit import AuditExtension, OperationTimer
from gateway.document_cache import document_cache
from gateway.errors import ErrorCodes
from gateway.graphql_core_internals import LeanExecutionContext
from gateway.resolvers import (
    AuditQueries,
    EventQueries,
    PlaceQueries,
    SearchQueries,
    StatsQueries,
)
from gateway.strawberry_internals import graphql_core_schema, validation_rules
from gateway.subscription import Subscription
from schema.errors import AlprError

log = logging.getLogger(__name__)

CACHED_DOCUMENTS = 512

QUERY_PARTS: tuple[type, ...] = (
    EventQueries,
    PlaceQueries,
    StatsQueries,
    AuditQueries,
    SearchQueries,
)
Query = merge_types("Query", QUERY_PARTS)


class GatewaySchema(strawberry.Schema):
    """Strawberry's schema without its error log, which prints the whole document
    (plate text included) at ERROR for every client mistake. `ErrorCodes`
    logs the failures that are ours."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.original_error is not None and not isinstance(error.original_error, AlprError):
                log.debug("operation error: %s", type(error.original_error).__name__)


class HideSuggestions(SchemaExtension):
    """Validate without "Did you mean …?" hints: with introspection off they
    would spell the schema out to whoever guesses near a field's name.

    Runs the validation Strawberry would (same rules) with graphql-core's
    `hide_suggestions`; Strawberry skips its own when errors are set, as for
    a document the cache validated before (`gateway.document_cache`).
    """

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors is None and execution.graphql_document is not None:
            execution.pre_execution_errors = validate(
                graphql_core_schema(execution.schema),
                execution.graphql_document,
                validation_rules(execution),
                hide_suggestions=True,
            )
        yield


class QuietExecutor(LeanExecutionContext):
    """The executor, coercing variables without "Did you mean …?" hints."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> list[GraphQLError] | Executor[Any]:
        return super().build(*args, **{**kwargs, "hide_suggestions": True})


def _limit_rules(settings: GatewaySettings) -> list[type[ASTValidationRule]]:
    depth = QueryDepthLimiter(max_depth=settings.max_query_depth)
    aliases = MaxAliasesLimiter(max_alias_count=settings.max_aliases)
    return [*depth.validation_rules, *aliases.validation_rules]


def build_schema(settings: GatewaySettings | None = None) -> strawberry.Schema:
    """The schema with limits from `settings` (defaults when None, e.g. for SDL export)."""
    settings = settings or GatewaySettings()
    # Factories, not instances: an extension keeps per-operation state.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        # The limiters' rule classes are made once: a fresh class per request
        # would make every request miss the validation cache below.
        partial(AddValidationRules, _limit_rules(settings)),
        # Parsing and validating a document cost more than running a small
        # query; clients repeat a few documents, so keep the ones that passed
        # (bounded LRU keyed by the query text). Errors are never cached.
        document_cache(CACHED_DOCUMENTS),
        ErrorCodes,
        AuditExtension,
        OperationTimer,
    ]
    executor: type[LeanExecutionContext] = LeanExecutionContext
    if not settings.introspection:
        # After the document cache: a document it knows was validated already.
        extensions += [DisableIntrospection, HideSuggestions]
        executor = QuietExecutor
    return GatewaySchema(
        query=Query,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=executor,
    )


def sdl() -> str:
    """The schema's SDL, as exported to schema/schema.graphql."""
    text: Any = build_schema().as_str()
    return f"{text}\n"


if __name__ == "__main__":
    # python -m gateway.graphql_schema > schema/schema.graphql
    print(sdl(), end="")
