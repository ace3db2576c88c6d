"""Live subscriptions: `plateDetected` (reads as they are stored) and
`alertRaised` (alerts as they are raised), from the process's live feed.

Both follow one path, with the same rules: the read scope every key has, the
purpose rule, and an audit record committed before anything is sent (alerts
hold plate data like reads do). A key revoked or expired closes the
connection (`gateway.auth.watch_keys`), whatever it runs.

Over our websocket handlers a subscription gets each item already rendered
by the feed, once for every subscription of the same document and variables,
and writes it to its socket (`gateway.websocket`). One that selects fields
resolved through the request (below a read's camera or plate; an alert's
reads, entry or list: they query with the connection's reader and its
purpose rule), or that came by another transport, is executed item by item
by Strawberry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, Final

import strawberry
from graphql.error import GraphQLError

from core import alerts
from gateway.alerting_resolvers import alert_filter
from gateway.audit import record_subscription
from gateway.context import Context
from gateway.live import Overflow, Render, Subscriber
from gateway.websocket import current_sink, until_cancelled
from schema.graphql.alerting import Alert, LiveAlertFilter
from schema.graphql.inputs import LiveFilter
from schema.graphql.selection import below_nested, nested_fields, selected_names
from schema.graphql.types import Event

Info = strawberry.Info[Context, None]

# An alert's fields that query through the request's reader: not shareable.
ALERT_RESOLVED: Final = frozenset({"reads", "entry", "hotlist"})


def _too_slow(buffer: int) -> GraphQLError:
    return GraphQLError(
        f"too slow: more than {buffer} items waited for this client; "
        "the subscription is closed, subscribe again",
        extensions={"code": "SLOW_CONSUMER"},
    )


def wants_alert(given: alerts.AlertFilter) -> Callable[[Alert], bool]:
    """Whether a live alert matches a live alert filter (its camera is the feed's to check)."""

    def wants(alert: Alert) -> bool:
        return (
            (given.hotlist is None or alert.hotlist_name == given.hotlist)
            and (given.priority_at_least is None or alert.priority >= given.priority_at_least)
            and (given.site_id is None or alert.site_id == given.site_id)
        )

    return wants


async def _follow(
    info: Info, subscribe: Callable[[Render | None], Subscriber], shareable: bool
) -> AsyncGenerator[Any, None]:
    """The items of the subscriber `subscribe` makes (given the shared renderer,
    if any): audited first, then sent as they come until the client leaves or
    falls `buffer` items behind (then a SLOW_CONSUMER error ends it)."""
    ctx = info.context
    ctx.reader.note_plate_data(0)  # purpose rule, before anything is sent
    await record_subscription(ctx)  # before the first item; none if it fails
    live = ctx.state.live
    sink = current_sink() if shareable else None
    subscriber = subscribe(sink.shape(info.selected_fields).render if sink is not None else None)
    try:
        if sink is None:
            while True:
                item = await subscriber.queue.get()
                if isinstance(item, Overflow):
                    raise _too_slow(live.buffer)
                yield item
        if await sink.send_until_overflow(subscriber):
            raise _too_slow(live.buffer)
        # The client is gone: stop taking items until the handler notices.
        live.unsubscribe(subscriber)
        await until_cancelled()
    finally:
        live.unsubscribe(subscriber)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def plate_detected(
        self, info: Info, filter: LiveFilter | None = None
    ) -> AsyncGenerator[Event, None]:
        """Each stored read that matches, in capture order per camera."""
        query = (filter or LiveFilter()).to_query()
        nested = nested_fields(info)
        live = info.context.state.live
        # Fields below camera/plate use this connection's reader: not shareable.
        items = _follow(
            info, lambda render: live.subscribe(query, nested, render), not below_nested(info)
        )
        async for item in items:
            yield item

    @strawberry.subscription
    async def alert_raised(
        self, info: Info, filter: LiveAlertFilter | None = None
    ) -> AsyncGenerator[Alert, None]:
        """Each alert that matches, as the matcher raises it: one per vehicle
        pass. Reads that join the pass later are not sent again (`alert(id)`
        has them); past hits found when an entry is added are not sent (their
        list's webhook gets them as a digest)."""
        wanted = alert_filter(filter or LiveAlertFilter())
        wants = wants_alert(wanted)
        live = info.context.state.live
        items = _follow(
            info,
            lambda render: live.subscribe_alerts(wants, wanted.camera_id, render),
            not selected_names(info) & ALERT_RESOLVED,
        )
        async for item in items:
            yield item
