"""Audit records: every operation that hands out plate data leaves one.

GraphQL queries are recorded after they ran (with how many reads and plates
they returned), subscriptions when they start, REST calls by their handler.
The record goes to the primary: a replica cannot take writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from gateway import queries
from gateway.context import Context
from gateway.metrics import AUDIT_RECORDS
from gateway.reader import start_tally


async def record(
    ctx: Context, operation: str, variables: dict[str, Any], result_count: int | None
) -> None:
    await queries.insert_audit(
        ctx.state.pool,
        ctx.key.key_id if ctx.key else None,
        ctx.client,
        operation,
        variables,
        result_count,
        ctx.purpose,
    )
    AUDIT_RECORDS.inc()


def describe_operation(name: str | None, document: Any) -> str:
    """`name` or, for anonymous operations, the kind and root fields (`query events,plate`)."""
    if name:
        return name
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode):
            fields = [
                getattr(getattr(s, "name", None), "value", "?")
                for s in definition.selection_set.selections
            ]
            return f"{definition.operation.value} {','.join(fields)}"
    return "unknown"


class AuditExtension(SchemaExtension):
    """Write the audit record of a query that touched plate data."""

    async def on_operation(self) -> AsyncIterator[None]:
        tally = start_tally()
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context) or not tally.touched:
            return
        if self.execution_context.operation_type == OperationType.SUBSCRIPTION:
            return  # recorded when the subscription starts
        operation = describe_operation(
            self.execution_context.operation_name, self.execution_context.graphql_document
        )
        variables = dict(self.execution_context.variables or {})
        await record(ctx, operation, variables, tally.count)
