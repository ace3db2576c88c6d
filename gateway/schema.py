"""The GraphQL schema: merged Query parts, the Subscription, and the guard rails.

To add root query fields (e.g. plate search), define a `@strawberry.type`
class of fields and append it to `QUERY_PARTS`; `merge_types` builds one
`Query` from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from alpr.settings import GatewaySettings
from gateway.audit import AuditExtension
from gateway.errors import ErrorCodes
from gateway.query import AuditQueries, EventQueries, PlaceQueries, StatsQueries
from gateway.search_api import SearchQueries
from gateway.subscription import Subscription
from schema.errors import AlprError

log = logging.getLogger(__name__)

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


def build_schema(settings: GatewaySettings | None = None) -> strawberry.Schema:
    """The schema with limits from `settings` (defaults when None, e.g. for SDL export)."""
    settings = settings or GatewaySettings()
    # Factories, not instances: an extension keeps per-operation state.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
        ErrorCodes,
        AuditExtension,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return GatewaySchema(query=Query, subscription=Subscription, extensions=extensions)


def sdl() -> str:
    """The schema's SDL, as exported to schema/schema.graphql."""
    text: Any = build_schema().as_str()
    return f"{text}\n"


if __name__ == "__main__":
    # python -m gateway.schema > schema/schema.graphql
    print(sdl(), end="")
