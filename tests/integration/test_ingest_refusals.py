"""A read the database refuses for any reason that is not an outage is refused
alone, with the reason, and the rest of its batch stored: whatever the
SQLSTATE, and for values no validation saw. Only when the database refuses
every read is the error raised (a database fault, not a row's).

The module's database refuses reads with a trigger: one track id always
(SQLSTATE P0001, neither a data nor a constraint error), every read while a
session setting says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from ingestor.sources.files import import_file, reject_reasons
from ingestor.writer import Writer
from schema.errors import StorageError
from schema.events import PlateEvent, event_from_dict
from tests.factories import wire_event
from tests.integration.test_ingest_http import Server, _settings

REFUSED_TRACK = "refused-by-a-trigger"
REFUSE = f"""
CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.track_id = '{REFUSED_TRACK}'
       OR current_setting('alpr.test_refuse_all', true) = 'on' THEN
        RAISE EXCEPTION 'the test refuses this read' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_refuse BEFORE INSERT ON plate_events
    FOR EACH ROW EXECUTE FUNCTION test_refuse();
"""


@pytest.fixture(scope="module")
async def refusing(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    await pool.execute(REFUSE)
    return pool


def _event(camera: str, **changes: Any) -> PlateEvent:
    return event_from_dict(wire_event(camera_id=camera, **changes))


def _unchecked(camera: str, captured_at: datetime) -> PlateEvent:
    """A read with a time validation would refuse (no window), as a drift would bring."""
    return _event(camera).model_copy(update={"captured_at": captured_at})


async def _count(pool: asyncpg.Pool[Any], camera: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM plate_events WHERE camera_id = $1", camera)
    )


async def test_a_read_refused_with_another_sqlstate_is_refused_alone(
    refusing: asyncpg.Pool[Any],
) -> None:
    good = [_event("refusals-1") for _ in range(9)]
    bad = _event("refusals-1", track_id=REFUSED_TRACK)
    async with refusing.acquire() as conn:
        result = await Writer().write_isolating(conn, [*good[:4], bad, *good[4:]])
    assert result.stored == 9
    [refused] = result.rejected
    assert refused.event is bad and refused.code == "row_rejected"
    assert "the test refuses this read" in refused.reason
    assert await _count(refusing, "refusals-1") == 9


async def test_a_database_that_refuses_every_read_raises(refusing: asyncpg.Pool[Any]) -> None:
    async with refusing.acquire() as conn:
        await conn.execute("SET alpr.test_refuse_all = 'on'")
        try:
            with pytest.raises(StorageError, match="the test refuses this read"):
                await Writer().write_isolating(conn, [_event("refusals-2") for _ in range(5)])
            with pytest.raises(StorageError):  # one read alone: the probe decides
                await Writer().write_isolating(conn, [_event("refusals-2")])
        finally:
            await conn.execute("RESET alpr.test_refuse_all")
    assert await _count(refusing, "refusals-2") == 0


@pytest.mark.parametrize(
    "captured_at",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime.fromisoformat("9999-12-31T23:59:59-05:00"),  # past year 9999 in UTC
        datetime.fromisoformat("0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
    ],
)
async def test_a_time_at_the_calendars_edge_is_refused_alone(
    refusing: asyncpg.Pool[Any], captured_at: datetime
) -> None:
    camera = f"refusals-edge-{captured_at.isoformat()}"[:50]
    good = [_event(camera) for _ in range(3)]
    edge = _unchecked(camera, captured_at)
    async with refusing.acquire() as conn:
        result = await Writer().write_isolating(conn, [good[0], edge, *good[1:]])
    stored_edge = await refusing.fetchval(
        "SELECT count(*) FROM plate_events WHERE event_id = $1", edge.event_id
    )
    # TimescaleDB stores 9999-12-31 as it is; nothing else stores these times.
    assert result.stored + len(result.rejected) == 4 and result.stored == 3 + stored_edge
    assert [r.event for r in result.rejected] == ([] if stored_edge else [edge])
    assert await _count(refusing, camera) == 3 + stored_edge


async def test_import_without_a_window_stores_the_good_rows(
    refusing: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    lines = [wire_event(camera_id="refusals-import") for _ in range(4)]
    lines.insert(1, wire_event(camera_id="refusals-import", captured_at="0001-01-01T00:00:00Z"))
    lines.insert(3, wire_event(camera_id="refusals-import", track_id=REFUSED_TRACK))
    path = tmp_path / "edges.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    report = await import_file(refusing, path, batch_size=100)
    assert (report.stored, report.rejected) == (4, 2)
    assert report.rejects_path is not None
    reasons = reject_reasons(report.rejects_path)
    assert "the test refuses this read" in reasons[1]
    assert await _count(refusing, "refusals-import") == 4


async def test_http_answers_200_with_the_refusal(
    refusing: asyncpg.Pool[Any], database_url: str
) -> None:
    body = [wire_event(camera_id="refusals-http") for _ in range(3)]
    body.append(wire_event(camera_id="refusals-http", track_id=REFUSED_TRACK))
    server = Server(_settings(database_url), refusing)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", json=body)
    finally:
        await server.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 3
    assert [item["index"] for item in answer.json()["rejected"]] == [3]
    assert "the test refuses this read" in answer.json()["rejected"][0]["reason"]


async def test_http_answers_a_database_fault_with_a_plain_500(
    refusing: asyncpg.Pool[Any], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = await refusing.fetchval("SELECT current_database()")
    await refusing.execute(f'ALTER DATABASE "{name}" SET alpr.test_refuse_all = on')
    own = await asyncpg.create_pool(database_url, min_size=1, max_size=2)  # new sessions
    assert own is not None
    server = Server(_settings(database_url), own)
    try:
        async with httpx.AsyncClient(base_url=await server.url(), timeout=30) as client:
            answer = await client.post("/ingest", json=[wire_event(), wire_event()])
    finally:
        await server.close()
        await own.close()
        await refusing.execute(f'ALTER DATABASE "{name}" RESET alpr.test_refuse_all')
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error"}
    failures = [r for r in caplog.records if r.getMessage().startswith("ingest failed")]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "the test refuses this read" in failures[0].getMessage()
