"""`plateDetected`: reads as they are stored, from the process's live feed.

Over our websocket handlers a subscription gets each read already rendered by
the feed, once for every subscription of the same document and variables, and
writes it to its socket (`gateway.websocket`). One that selects fields below
a read's camera or plate (they query through the connection's reader, with
its purpose rule), or that came by another transport, is executed read by
read by Strawberry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql.error import GraphQLError

from gateway.audit import record_subscription
from gateway.context import Context
from gateway.live import Overflow
from gateway.websocket import current_sink, until_cancelled
from schema.graphql.inputs import LiveFilter
from schema.graphql.selection import below_nested, nested_fields
from schema.graphql.types import Event

Info = strawberry.Info[Context, None]


def _too_slow(buffer: int) -> GraphQLError:
    return GraphQLError(
        f"too slow: more than {buffer} reads waited for this client; "
        "the subscription is closed, subscribe again",
        extensions={"code": "SLOW_CONSUMER"},
    )


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def plate_detected(
        self, info: Info, filter: LiveFilter | None = None
    ) -> AsyncGenerator[Event, None]:
        """Each stored read that matches, in capture order per camera."""
        ctx = info.context
        query = (filter or LiveFilter()).to_query()
        ctx.reader.note_plate_data(0)  # purpose rule, before anything is sent
        await record_subscription(ctx)  # before the first read; none if it fails
        live = ctx.state.live
        # Fields below camera/plate use this connection's reader: not shareable.
        sink = None if below_nested(info) else current_sink()
        render = sink.shape(info.selected_fields).render if sink is not None else None
        subscriber = live.subscribe(query, nested_fields(info), render)
        try:
            if sink is None:
                while True:
                    item = await subscriber.queue.get()
                    if isinstance(item, Overflow):
                        raise _too_slow(live.buffer)
                    assert isinstance(item, Event)
                    yield item
            if await sink.send_until_overflow(subscriber):
                raise _too_slow(live.buffer)
            # The client is gone: stop taking reads until the handler notices.
            live.unsubscribe(subscriber)
            await until_cancelled()
        finally:
            live.unsubscribe(subscriber)
