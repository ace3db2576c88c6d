"""Live results over websockets: one rendered result per read or alert and subscription shape.

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
ping, complete/stop, errors, limits): its handlers, extended in
`gateway.strawberry_internals`, only make the operation's websocket and the
start of its result frames known to the resolver while the operation runs
(`current_sink`). A subscription the transport cannot share (no sink:
another transport; nested objects that need the request's reader) goes
through Strawberry's per-event execution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass
from typing import Any, Final

import orjson
import strawberry
from graphql import (
    ExecutionResult,
    Executor,
    GraphQLSchema,
    execute_subscription_event,
    parse,
)
from strawberry.types.nodes import Selection

from gateway.errors import INTERNAL, ErrorCodes
from gateway.graphql_core_internals import SLOW
from gateway.live import Overflow, Subscriber
from gateway.live_plan import plan
from gateway.strawberry_internals import (
    TextWebSocket,
    WebSocketDisconnected,
    current_operation,
    graphql_core_schema,
)

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
        core_schema = graphql_core_schema(schema)
        self._plan = plan(core_schema, selected) if selected is not None else None
        query, operation_name, variables = key
        executor = schema.execution_context_class.build(
            core_schema,
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

    def render(self, item: object) -> str:
        """The payload's JSON of a read or an alert; never raises (it runs inside
        the feed, for everyone)."""
        try:
            if self._plan is not None:
                data = self._plan.read(item)
                if data is not SLOW:
                    return orjson.dumps({"data": data}).decode()
            result = execute_subscription_event(self._executor.build_per_event_executor(item))
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
            log.exception("rendering a live result failed")
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
    cache_key = (graphql_core_schema(schema), key)
    shape = _shapes.get(cache_key)
    if shape is None:
        shape = _shapes[cache_key] = SharedShape(schema, key, selected)
    return shape


@dataclass
class LiveSink:
    """Where one operation's results go: its socket, its id, its protocol's frame."""

    websocket: TextWebSocket
    schema: strawberry.Schema
    key: ShapeKey
    frame_start: str  # a result message up to its payload: '{"id": ..., "type": "next", ...

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


def current_sink() -> LiveSink | None:
    """Where the websocket operation this task runs sends its results, if it runs one of ours."""
    operation = current_operation()
    if operation is None:
        return None
    # Variables came as JSON: they serialize back.
    variables = json.dumps(operation.variables or {}, sort_keys=True)
    key = (operation.query, operation.operation_name, variables)
    return LiveSink(operation.websocket, operation.schema, key, operation.frame_start)


async def until_cancelled() -> None:
    """Wait for the connection's handler to cancel this operation (it saw the disconnect)."""
    await asyncio.Future()
