"""Live reads over websockets: one rendered result per read and subscription shape.

Strawberry runs a subscription as one async generator per operation and
executes the selection set again for every event it yields, then formats,
serializes and sends the result: about 70 us per read per subscriber, all of
it the same for every subscriber that sent the same document with the same
variables (same filter, same selection). Here those subscribers share a
`SharedShape`: the live feed has it render each read once (read off a plan of
the selection, `gateway.live_plan`, or executed by graphql-core; serialized
to the JSON of a result), and each subscription only wraps that text in its
own protocol frame and writes it.

Strawberry still speaks both protocols (connection_init and the key check,
ping, complete/stop, errors, limits): the handlers below only make the
operation's websocket, id and message shape known to the resolver while the
operation runs (`current_sink`). A subscription the transport cannot share
(no sink: another transport; nested objects that need the request's reader)
goes through Strawberry's per-event execution as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import weakref
from dataclasses import dataclass
from typing import Any, Final, cast

import orjson
import strawberry
from graphql import (
    ExecutionResult,
    Executor,
    GraphQLSchema,
    execute_subscription_event,
    parse,
)
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.nodes import Selection

from gateway.context import Context
from gateway.errors import INTERNAL, ErrorCodes
from gateway.execution import SLOW
from gateway.live import Overflow, Subscriber
from gateway.live_plan import plan
from schema.graphql.types import Event

log = logging.getLogger(__name__)

# (query text, operation name, variables as canonical JSON): the same three
# give the same filter and the same selection, so the same result per read.
ShapeKey = tuple[str, str | None, str]

_MASK: Final = ErrorCodes()
_INTERNAL_ERROR: Final = orjson.dumps(
    {"data": None, "errors": [{"message": "internal error", "extensions": {"code": INTERNAL}}]}
).decode()


class SharedShape:
    """One document + variables: renders a read to the JSON of its `next` payload.

    Reads the selection's plan (`gateway.live_plan`, from the first
    subscriber's `selected`) off the read when there is one and the read has
    no value that would be an error; otherwise runs graphql-core's per-event
    execution, with the schema's executor class. Both without a context: the
    fields a shared subscription may select (a read's, and the scalars of its
    nested camera/plate, loaded by the feed) are plain attributes.
    """

    def __init__(
        self, schema: strawberry.Schema, key: ShapeKey, selected: list[Selection] | None = None
    ) -> None:
        self._plan = plan(schema._schema, selected) if selected is not None else None
        query, operation_name, variables = key
        executor = schema.execution_context_class.build(
            schema._schema,
            parse(query),
            raw_variable_values=json.loads(variables),
            operation_name=operation_name,
        )
        # Strawberry validated this very document before the resolver ran.
        assert isinstance(executor, Executor), executor
        self._executor = executor

    @property
    def planned(self) -> bool:
        """Whether reads are read off a plan (else graphql-core executes each)."""
        return self._plan is not None

    def render(self, event: Event) -> str:
        """The payload's JSON; never raises (it runs inside the feed, for everyone)."""
        try:
            if self._plan is not None:
                data = self._plan.read(event)
                if data is not SLOW:
                    return orjson.dumps({"data": data}).decode()
            result = execute_subscription_event(self._executor.build_per_event_executor(event))
            if not isinstance(result, ExecutionResult):
                # A field that awaits slipped past `below_nested`: a bug of ours.
                if asyncio.iscoroutine(result):
                    result.close()
                raise TypeError("a shared live shape resolved asynchronously")
            payload: dict[str, Any] = {"data": result.data}
            if result.errors:
                payload["errors"] = [_MASK.anonymise_error(e).formatted for e in result.errors]
            return orjson.dumps(payload).decode()
        except Exception:
            log.exception("rendering a live read failed")
            return _INTERNAL_ERROR


# A shape lives while a subscription holds its renderer: weakly cached.
_shapes: weakref.WeakValueDictionary[tuple[GraphQLSchema, ShapeKey], SharedShape] = (
    weakref.WeakValueDictionary()
)


def shared_shape(
    schema: strawberry.Schema, key: ShapeKey, selected: list[Selection]
) -> SharedShape:
    """The shape of `key`, made from this subscriber's selection if it is the first."""
    # Keyed by the graphql-core schema, which the shape's executor holds.
    shape = _shapes.get((schema._schema, key))
    if shape is None:
        shape = _shapes[(schema._schema, key)] = SharedShape(schema, key, selected)
    return shape


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI websocket, plus sending text that is already JSON."""

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


@dataclass
class LiveSink:
    """Where one operation's results go: its socket, its id, its protocol's frame."""

    websocket: TextWebSocketAdapter
    schema: strawberry.Schema
    key: ShapeKey
    frame_start: str  # '{"id": ..., "type": "next", "payload": ' (or graphql-ws "data")

    def shape(self, selected: list[Selection]) -> SharedShape:
        return shared_shape(self.schema, self.key, selected)

    async def send_until_overflow(self, subscriber: Subscriber) -> bool:
        """Send the subscriber's rendered reads as they come.

        Returns True when the feed dropped it (its buffer overflowed), False
        when the client is gone.
        """
        queue = subscriber.queue
        while True:
            item = await queue.get()
            if isinstance(item, Overflow):
                return True
            try:
                await self.websocket.send_text(f"{self.frame_start}{item}}}")
            except WebSocketDisconnected:
                return False


_current: contextvars.ContextVar[LiveSink | None] = contextvars.ContextVar(
    "alpr_live_sink", default=None
)


def current_sink() -> LiveSink | None:
    """The websocket operation this task runs, if it runs one of ours."""
    return _current.get()


def _sink(
    handler: BaseGraphQLTransportWSHandler[Context, None] | BaseGraphQLWSHandler[Context, None],
    operation_id: str,
    message_type: str,
    query: str,
    operation_name: str | None,
    variables: dict[str, object] | None,
) -> LiveSink | None:
    if not isinstance(handler.websocket, TextWebSocketAdapter):
        return None
    # Variables came as JSON: they serialize back.
    canonical = json.dumps(variables or {}, sort_keys=True)
    schema = cast(strawberry.Schema, handler.schema)
    start = f'{{"id": {json.dumps(operation_id)}, "type": "{message_type}", "payload": '
    return LiveSink(handler.websocket, schema, (query, operation_name, canonical), start)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with the operation's sink known to its resolver."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # Runs in the operation's own task: the variable is that task's alone.
        sink = _sink(
            self,
            operation.id,
            "next",
            operation.query,
            operation.operation_name,
            operation.variables,
        )
        _current.set(sink)
        await super().run_operation(operation)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (the Apollo protocol), with the operation's sink known to its resolver."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        _current.set(_sink(self, operation_id, "data", query, operation_name, variables))
        await super().handle_async_results(operation_id, query, operation_name, variables)


async def until_cancelled() -> None:
    """Wait for the connection's handler to cancel this operation (it saw the disconnect)."""
    await asyncio.Future()
