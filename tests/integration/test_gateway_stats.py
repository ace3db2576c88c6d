"""Statistics over windows that cut days: whole days from camera_daily, edges
from camera_hourly, unique plates from plate_days; checked against the reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from ingestor.writer import write_batch
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event
from tests.integration.gateway_server import gql, serve, settings_for

DAY0 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
QUERY = """query($since: DateTime, $until: DateTime, $cameraId: String) {
  stats(since: $since, until: $until, cameraId: $cameraId, hours: 744) {
    since until totalReads activeCameras avgConfidence avgLatencyMs uniquePlates newPlates
    readsPerHour { hour reads } } }"""


def _events() -> list[PlateEvent]:
    # Four days, a read every 50 minutes, three cameras, plates that come and go.
    return [
        event_from_dict(
            wire_event(
                camera_id=f"st-cam-{i % 3}",
                captured_at=(DAY0 + timedelta(minutes=50 * i)).isoformat(),
                plate__text=f"ST{(i // 7) % 23}",
                plate__confidence=0.5 + (i % 11) / 22,
                latency_ms=i % 90,
            )
        )
        for i in range(4 * 24 * 60 // 50)
    ]


@pytest.fixture(scope="module")
async def stored(pool: asyncpg.Pool[Any]) -> list[PlateEvent]:
    events = _events()
    async with pool.acquire() as conn:
        for start in range(0, len(events), 25):  # several batches: upserts add up
            await write_batch(conn, events[start : start + 25])
    return events


@pytest.fixture(scope="module")
async def client(database_url: str, stored: list[PlateEvent]) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(database_url)) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


def _hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


@pytest.mark.parametrize(
    ("since_h", "until_h", "camera"),
    [
        (None, None, None),  # the whole history: from `cameras`
        (None, None, "st-cam-1"),
        (5, 80, None),  # partial first day, two whole days, partial last day
        (24, 72, None),  # whole days only
        (30, 40, None),  # inside one day
        (0, 24, "st-cam-1"),
        (7, None, "st-cam-2"),
        (None, 50, None),
    ],
)
async def test_windowed_totals_match_the_reads(
    client: httpx.AsyncClient,
    stored: list[PlateEvent],
    since_h: int | None,
    until_h: int | None,
    camera: str | None,
) -> None:
    since = DAY0 + timedelta(hours=since_h, minutes=20) if since_h is not None else None
    until = DAY0 + timedelta(hours=until_h, minutes=10) if until_h is not None else None
    variables = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "cameraId": camera,
    }
    body = await gql(client, QUERY, variables)
    assert "errors" not in body, body
    stats = body["data"]["stats"]
    # Windows are whole hours: since floors, until ceils.
    lo = _hour_floor(since) if since else None
    hi = _hour_floor(until) + timedelta(hours=1) if until else None
    mine = [
        e
        for e in stored
        if (lo is None or e.captured_at >= lo)
        and (hi is None or e.captured_at < hi)
        and (camera is None or e.camera_id == camera)
    ]
    assert stats["totalReads"] == len(mine)
    assert stats["activeCameras"] == len({e.camera_id for e in mine})
    assert stats["avgConfidence"] == pytest.approx(
        sum(e.plate_confidence for e in mine) / len(mine)
    )
    latencies = [e.latency_ms for e in mine if e.latency_ms is not None]
    assert stats["avgLatencyMs"] == pytest.approx(sum(latencies) / len(latencies))
    assert sum(p["reads"] for p in stats["readsPerHour"]) == len(mine)
    if camera is None and (since or until):
        # Unique plates are counted over whole UTC days.
        day_lo = lo.date() if lo else None
        day_hi = (hi - timedelta(microseconds=1)).date() if hi else None
        days = {
            e.plate_normalized_text
            for e in stored
            if (day_lo is None or e.captured_at.date() >= day_lo)
            and (day_hi is None or e.captured_at.date() <= day_hi)
        }
        assert stats["uniquePlates"] == len(days)
        first_seen: dict[str, datetime] = {}
        for e in stored:
            first_seen[e.plate_normalized_text] = min(
                first_seen.get(e.plate_normalized_text, e.captured_at), e.captured_at
            )
        new = [
            p
            for p, at in first_seen.items()
            if (lo is None or at >= lo) and (hi is None or at < hi)
        ]
        assert stats["newPlates"] == len(new)


async def test_series_covers_the_newest_hours(client: httpx.AsyncClient) -> None:
    until = DAY0 + timedelta(hours=30)
    body = await gql(
        client,
        "query($u: DateTime) { stats(until: $u, hours: 5) { readsPerHour { hour reads } } }",
        {"u": until.isoformat()},
    )
    hours = [datetime.fromisoformat(p["hour"]) for p in body["data"]["stats"]["readsPerHour"]]
    assert hours == [DAY0 + timedelta(hours=h) for h in range(25, 30)]
