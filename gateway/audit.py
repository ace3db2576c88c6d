"""Audit records: no plate data leaves the gateway unless its record is committed.

GraphQL queries are recorded when their execution has ended and before their
result is sent: in Strawberry's `on_execute` hook, which runs inside the
operation on every transport (HTTP, both websocket protocols), so a record
that cannot be written turns the result into an error without data.
Subscriptions are recorded by their resolver when they start, before the
first read (`record_subscription`); REST handlers record before they return.

A record holds the operation as the server parsed it: the name of the
operation that ran (from the document, never the client's `operationName`)
and each root field with its effective arguments (inline, from declared
variables, or their defaults), as JSON of at most `MAX_RECORD_BYTES`; larger
ones are cut and marked `truncated`. Variables the document does not declare
are never stored. The record goes to the primary: a replica cannot take
writes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextvars import ContextVar
from datetime import date
from datetime import time as time_of_day
from enum import Enum
from typing import Any, Final

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_argument_values,
    get_directive_values,
    get_operation_ast,
    get_variable_values,
)
from graphql.execution import VariableValues
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from gateway import queries
from gateway.context import Context
from gateway.errors import INTERNAL, code_and_status, public_message
from gateway.metrics import AUDIT_RECORDS, OPERATION_SECONDS
from gateway.reader import start_tally
from gateway.strawberry_internals import graphql_core_schema

log = logging.getLogger(__name__)

# The JSON of a record's fields and arguments, at most; a client controls
# its size (long filters, many aliases).
MAX_RECORD_BYTES: Final = 8192
MAX_OPERATION_NAME: Final = 200
# PostgreSQL's text and jsonb hold neither NUL nor a lone surrogate.
_UNSTORABLE: Final = {0: "\ufffd", **{c: "\ufffd" for c in range(0xD800, 0xE000)}}


async def record(
    ctx: Context, operation: str, variables: Mapping[str, Any], result_count: int | None
) -> None:
    """Write one record; raises `StorageError` when it cannot be written."""
    await queries.insert_audit(
        ctx.state.pool,
        ctx.key.key_id if ctx.key else None,
        ctx.client,
        _storable(operation)[:MAX_OPERATION_NAME],
        bounded(variables),
        result_count,
        ctx.purpose,
    )
    AUDIT_RECORDS.inc()


def bounded(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as plain JSON values, or, when their JSON exceeds `MAX_RECORD_BYTES`,
    its beginning: `{"truncated": true, "bytes": <full size>, "head": "<JSON text>"}`."""
    plain: dict[str, Any] = _plain(dict(values))
    text = json.dumps(plain)
    if len(text) <= MAX_RECORD_BYTES:  # ASCII: json.dumps escapes the rest
        return plain
    head = text[: MAX_RECORD_BYTES - 100]
    while len(cut := json.dumps({"truncated": True, "bytes": len(text), "head": head})) > (
        MAX_RECORD_BYTES
    ):
        head = head[: len(head) - (len(cut) - MAX_RECORD_BYTES) - 1]
    return {"truncated": True, "bytes": len(text), "head": head}


def _storable(text: str) -> str:
    return text.translate(_UNSTORABLE)


def _plain(value: Any) -> Any:
    """A coerced GraphQL value as JSON values: strings storable, dates ISO 8601,
    null fields of objects left out."""
    if isinstance(value, str):
        return _storable(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        # An argument left null, by default or by the client, filters nothing.
        return {_storable(str(k)): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date | time_of_day):
        return value.isoformat()
    if isinstance(value, Enum):
        return _plain(value.value)
    return _storable(str(value))


def parsed_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    """The audit record of the operation graphql-core runs for these inputs:
    (its name, or kind and root fields; {root field: {argument: value}}).

    A root field is keyed by its name, or `alias: name`. Arguments are coerced
    as for execution (defaults applied); only declared variables are read.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return "unknown", {}
    try:
        coerced = get_variable_values(
            schema, operation.variable_definitions or (), dict(variables or {})
        )
        if isinstance(coerced, list):
            raise coerced[0]
        fields = _root_arguments(schema, document, operation, coerced)
    except GraphQLError as exc:
        # Not what ran (execution refuses the same inputs), but kept legible.
        fields = {"unreadable": exc.message}
    kind = operation.operation.value
    if operation.name is not None:
        return operation.name.value, fields
    names = ",".join(key.rpartition(" ")[2] for key in fields)
    return f"{kind} {names}".strip(), fields


def _root_arguments(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues,
) -> dict[str, Any]:
    root = schema.get_root_type(operation.operation)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields: dict[str, Any] = {}
    for node in _root_fields(operation.selection_set, fragments, variables, set()):
        name = node.name.value
        key = f"{node.alias.value}: {name}" if node.alias else name
        definition = root.fields.get(name) if root is not None else None
        fields[key] = get_argument_values(definition, node, variables) if definition else {}
    return fields


def _root_fields(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: VariableValues,
    spread: set[str],
) -> Iterator[FieldNode]:
    """The root fields selected, through fragments, skipping `@skip`/`@include`d-out ones."""
    for node in selections.selections:
        if get_directive_values(GraphQLSkipDirective, node, variables) == {"if": True}:
            continue
        if get_directive_values(GraphQLIncludeDirective, node, variables) == {"if": False}:
            continue
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _root_fields(node.selection_set, fragments, variables, spread)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                spread.add(node.name.value)
                yield from _root_fields(fragment.selection_set, fragments, variables, spread)


def _parsed(execution: ExecutionContext) -> tuple[str, dict[str, Any]]:
    assert execution.graphql_document is not None  # it ran
    return parsed_operation(
        graphql_core_schema(execution.schema),
        execution.graphql_document,
        execution.operation_name,
        execution.variables,
    )


def withheld(exc: Exception) -> GraphQLError:
    """The error a client gets instead of a result whose record failed: no driver text."""
    code, _ = code_and_status(exc)
    if code == INTERNAL:
        log.error("audit record failed: result withheld", exc_info=exc)
    else:
        log.warning("audit record failed: result withheld (%s)", type(exc).__name__)
    return GraphQLError(public_message(exc), extensions={"code": code})


# The operation running in this task, for its subscription resolver.
_running: ContextVar[ExecutionContext | None] = ContextVar("alpr_audited_operation", default=None)


async def record_subscription(ctx: Context) -> None:
    """Record the subscription this task runs, before it sends anything."""
    execution = _running.get()
    name, fields = _parsed(execution) if execution is not None else ("subscription", {})
    await record(ctx, name, fields, None)


class AuditExtension(SchemaExtension):
    """Record a query that touched plate data before its result can be sent.

    `on_execute` ends inside the operation, before the transport sees the
    result: an exception here becomes an error result with `data: null` over
    HTTP and over websockets alike.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        tally = start_tally()
        _running.set(self.execution_context)
        yield
        ctx = self.execution_context.context
        if not isinstance(ctx, Context) or not tally.touched:
            return
        if self.execution_context.operation_type == OperationType.SUBSCRIPTION:
            return  # recorded when the subscription starts
        try:
            await record(ctx, *_parsed(self.execution_context), tally.count)
        except Exception as exc:
            raise withheld(exc) from None


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


class OperationTimer(SchemaExtension):
    """Time each query by its root fields, for the operators' dashboard."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        document = self.execution_context.graphql_document
        if document is None:
            return  # refused before parsing (token limit): nothing ran
        if self.execution_context.operation_type == OperationType.SUBSCRIPTION:
            return  # a subscription's lifetime is not a latency
        operation = describe_operation(None, document)
        OPERATION_SECONDS.labels(operation).observe(time.perf_counter() - started)
