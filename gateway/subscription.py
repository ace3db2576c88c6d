"""`plateDetected`: reads as they are stored, from the process's live feed."""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator

import strawberry
from graphql.error import GraphQLError

from gateway.audit import record
from gateway.context import Context
from gateway.live import Overflow
from schema.graphql.inputs import LiveFilter
from schema.graphql.selection import nested_fields
from schema.graphql.types import Event

Info = strawberry.Info[Context, None]


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
        name = info.operation.name
        operation = name.value if name else "subscription plateDetected"
        await record(ctx, operation, dict(info.variable_values), None)
        nested = nested_fields(info)
        live = ctx.state.live
        subscriber = live.subscribe(query)
        try:
            while True:
                item = await subscriber.queue.get()
                if isinstance(item, Overflow):
                    raise GraphQLError(
                        f"too slow: more than {live.buffer} reads waited for this client; "
                        "the subscription is closed, subscribe again",
                        extensions={"code": "SLOW_CONSUMER"},
                    )
                if nested:
                    # The feed's reads are shared by every subscriber: copy.
                    item = copy.copy(item)
                    await ctx.reader.attach([item], nested)
                yield item
        finally:
            live.unsubscribe(subscriber)
