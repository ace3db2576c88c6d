"""The live feed's fan-out rules, without I/O: filters, bursts, overflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.live import OVERFLOW, LiveFeed
from schema.events import event_from_dict
from schema.filters import EventQuery
from schema.graphql.types import Event
from tests.factories import wire_event


def _events(n: int, camera: str = "c1", confidence: float = 0.9) -> list[Event]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        event_from_dict(
            wire_event(
                camera_id=camera,
                captured_at=(start + timedelta(seconds=i)).isoformat(),
                plate__confidence=confidence,
            )
        )
        for i in range(n)
    ]
    return [Event.from_row(row.model_dump() | {"created_at": None}) for row in rows]


def test_filters_by_camera_plate_site_and_confidence() -> None:
    feed = LiveFeed("postgresql://unused", buffer=100)
    mine = feed.subscribe(EventQuery(camera_id="c2", min_confidence=0.8))
    plate = feed.subscribe(EventQuery(plate="ABC123", site_id="DC1"))
    other_site = feed.subscribe(EventQuery(site_id="nowhere"))
    feed.publish(_events(3, "c1") + _events(2, "c2") + _events(4, "c2", confidence=0.5))
    assert mine.queue.qsize() == 2
    assert plate.queue.qsize() == 9
    assert other_site.queue.qsize() == 0


def test_an_idle_subscriber_takes_a_burst_larger_than_its_buffer() -> None:
    feed = LiveFeed("postgresql://unused", buffer=5)
    subscriber = feed.subscribe(EventQuery())
    feed.publish(_events(50))
    assert subscriber.queue.qsize() == 50 and not subscriber.dropped


def test_a_subscriber_behind_is_told_and_dropped_alone() -> None:
    feed = LiveFeed("postgresql://unused", buffer=5)
    slow = feed.subscribe(EventQuery())
    fast = feed.subscribe(EventQuery())
    feed.publish(_events(3))
    while not fast.queue.empty():
        fast.queue.get_nowait()
    feed.publish(_events(3))  # slow now holds 3 + 3 > 5
    assert slow.dropped and slow.queue.qsize() == 1
    assert slow.queue.get_nowait() is OVERFLOW
    assert fast.queue.qsize() == 3 and not fast.dropped
    assert feed.subscribers == {fast}


def test_subscribers_sharing_a_renderer_get_each_read_rendered_once() -> None:
    feed = LiveFeed("postgresql://unused", buffer=100)
    rendered: list[str] = []

    def render(event: Event) -> str:
        rendered.append(str(event.id))
        return f"<{event.id}>"

    def other(event: Event) -> str:
        return f"[{event.id}]"

    same = [feed.subscribe(EventQuery(camera_id="c1"), render=render) for _ in range(3)]
    differs = feed.subscribe(EventQuery(camera_id="c1"), render=other)
    plain = feed.subscribe(EventQuery(camera_id="c1"))
    events = _events(4) + _events(2, "c2")
    feed.publish(events)
    mine = [str(e.id) for e in events[:4]]
    assert rendered == mine  # once per read, not once per subscriber
    for subscriber in same:
        assert [subscriber.queue.get_nowait() for _ in mine] == [f"<{i}>" for i in mine]
    assert [differs.queue.get_nowait() for _ in mine] == [f"[{i}]" for i in mine]
    assert [plain.queue.get_nowait() for _ in mine] == events[:4]
