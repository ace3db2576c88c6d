"""The one module that reaches into Strawberry's internals.

The gateway needs these things Strawberry does not offer as API; they are
taken here and nowhere else:

- which GraphQL field only reads an attribute (no resolver, permission or
  field extension): `plain_attribute`, for `gateway.graphql_core_internals`;
- the execution context class Strawberry runs graphql-core with, to extend
  (`StrawberryExecutionContext`), and the graphql-core schema under a
  Strawberry schema (`graphql_core_schema`);
- which websocket operation a subscription resolver runs for, and a socket
  that sends text already JSON (`current_operation`, `TextWebSocket`): live
  reads are rendered once per subscription shape (`gateway.websocket`);
- a websocket connection closable from outside its handler, after which it
  sends nothing (`close_connection`, `TextWebSocket.close`): the websockets
  of a revoked or expired key are closed (`gateway.auth`);
- the validation rules Strawberry adds of its own (`validation_rules`), to
  validate with graphql-core's `hide_suggestions` (`gateway.graphql_schema`).

Strawberry is pinned to the minor version these were tested with
(pyproject.toml). tests/unit/test_library_internals.py runs each fast path
beside Strawberry's own over a corpus of queries and subscriptions, and
tests/integration/test_live_protocols.py compares the frames of both
websocket protocols with those of Strawberry's own handlers, so an upgrade
that changes any of the above fails there. What each fast path gains end to
end is in bench/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import strawberry
from graphql import ASTValidationRule, GraphQLField, GraphQLSchema
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.resolvers import is_default_resolver
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionContext
from strawberry.types.field import StrawberryField

from gateway.context import Context

__all__ = [
    "LegacyWSHandler",
    "StrawberryExecutionContext",
    "TextWebSocket",
    "TransportWSHandler",
    "WebSocketDisconnected",
    "WebSocketOperation",
    "current_operation",
    "graphql_core_schema",
    "plain_attribute",
    "validation_rules",
]

# The class graphql-core executes with under Strawberry (its resolve info
# carries the operation's extensions and the plain coerced variables).
StrawberryExecutionContext = StrawberryGraphQLCoreExecutionContext


def graphql_core_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built and executes against."""
    return schema._schema


def validation_rules(execution: ExecutionContext) -> tuple[type[ASTValidationRule], ...]:
    """Every rule Strawberry validates this operation's document with: those of
    the operation (the specified rules and the extensions'), then its own two."""
    return (*execution.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)


class Attribute(NamedTuple):
    """What Strawberry's resolver of a plain field does: `read(source, name)`."""

    read: Callable[[Any, str], Any]
    name: str


def plain_attribute(field: GraphQLField) -> Attribute | None:
    """How Strawberry resolves `field` if all it does is read an attribute.

    None for anything else: a resolver, arguments, permissions or other field
    extensions, or a field Strawberry did not make.
    """
    if field.args or field.resolve is None:
        return None
    definition = field.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    # Strawberry's own resolver of a field without resolver: a call of the
    # configured default resolver (getattr) on the attribute.
    if not is_default_resolver(field.resolve):
        return None
    return Attribute(definition.default_resolver, definition.python_name)


class TextWebSocket(ASGIWebSocketAdapter):
    """Strawberry's ASGI websocket, plus sending text that is already JSON, and
    a close that may come from outside the handler (a revoked key): once
    closed, it sends nothing more, and a second close does nothing."""

    closed = False

    async def send_text(self, text: str) -> None:
        """Send `text` as one message; raises `WebSocketDisconnected` when the client
        is gone or the socket was closed."""
        if self.closed:
            raise WebSocketDisconnected
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.closed:
            raise WebSocketDisconnected
        await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        # The client may be gone already: then there is nobody to tell.
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self.ws.close(code=code, reason=reason)


@dataclass(frozen=True)
class WebSocketOperation:
    """A subscription running over one of the handlers below."""

    websocket: TextWebSocket
    schema: strawberry.Schema
    query: str
    operation_name: str | None
    variables: dict[str, object] | None
    # The text of a result message up to its payload, as the handler writes it.
    frame_start: str


# How long closing a connection waits for its cancelled operations to end.
_STOP_WAIT_S = 1.0

_current: contextvars.ContextVar[WebSocketOperation | None] = contextvars.ContextVar(
    "alpr_websocket_operation", default=None
)


def current_operation() -> WebSocketOperation | None:
    """The websocket operation this task runs, if one of the handlers below runs it."""
    return _current.get()


def _operation(
    handler: BaseGraphQLTransportWSHandler[Context, None] | BaseGraphQLWSHandler[Context, None],
    query: str,
    operation_name: str | None,
    variables: dict[str, object] | None,
    frame_start: str,
) -> WebSocketOperation | None:
    if not isinstance(handler.websocket, TextWebSocket):
        return None
    schema = cast(strawberry.Schema, handler.schema)
    return WebSocketOperation(
        handler.websocket, schema, query, operation_name, variables, frame_start
    )


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with the operation known to its resolver, and the
    connection closable from outside (`Context.connection`)."""

    async def handle(self) -> None:
        self.context.connection = self
        try:
            await super().handle()
        finally:
            self.context.connection = None

    async def close_connection(self, code: int, reason: str) -> None:
        """Close the socket (nothing more is sent), then stop every operation."""
        await self.websocket.close(code=code, reason=reason)
        tasks = [operation.task for operation in self.operations.values() if operation.task]
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_WAIT_S)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Runs in the operation's own task: the variable is that task's alone.
        # The keys in the order of Strawberry's `send_next`.
        start = f'{{"id": {json.dumps(operation.id)}, "type": "next", "payload": '
        _current.set(
            _operation(self, operation.query, operation.operation_name, operation.variables, start)
        )
        await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (the Apollo protocol), with the operation known to its resolver,
    and the connection closable from outside (`Context.connection`)."""

    async def handle(self) -> None:
        self.context.connection = self
        try:
            await super().handle()
        finally:
            self.context.connection = None

    async def close_connection(self, code: int, reason: str) -> None:
        """Close the socket (nothing more is sent), then stop every operation."""
        await self.websocket.close(code=code, reason=reason)
        await self.cleanup()

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        # Runs in the operation's own task, as above. The keys in the order
        # of Strawberry's `send_data_message`.
        start = f'{{"type": "data", "id": {json.dumps(operation_id)}, "payload": '
        _current.set(_operation(self, query, operation_name, variables, start))
        await super().handle_async_results(operation_id, query, operation_name, variables)
