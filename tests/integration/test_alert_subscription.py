"""`alertRaised` through a real gateway under uvicorn, on both websocket
protocols, with alerts raised by a real matcher round: one message per
vehicle pass (a read joining the pass sends nothing), filters by list,
priority, site and camera, fields resolved per subscriber (reads, entry,
list), the audit record committed before the first alert is sent, a revoked
key's socket closed within 5 s, and filter values PostgreSQL could not take
refused as BAD_USER_INPUT."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from alerts import backfill
from alerts.matcher import Matcher
from core.keys import create_key, revoke_key
from tests.integration.alerts_support import (
    add_entry,
    add_list,
    drain,
    minutes_ago,
    new_matcher,
    read,
    store,
    tag,
)
from tests.integration.gateway_server import live_socket, serve, settings_for

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
ALERT = """subscription Watch{n}($f: LiveAlertFilter) {{ alertRaised(filter: $f) {{
  id hotlistName reason priority cameraId siteId plateRead entryPlate cost edits
  regionMismatch historical readCount status bestEventId checklist {{ regionMatches }}
}} }}"""
# Fields resolved through the connection's reader: executed per subscriber.
DEEP = """subscription($f: LiveAlertFilter) { alertRaised(filter: $f) {
  id readCount reads { eventId confidence event { plateNormalized } }
  entry { plate reason } hotlist { name priority }
} }"""


@pytest.fixture(scope="module")
async def base_url(database_url: str) -> AsyncIterator[str]:
    settings = settings_for(database_url, require_keys=True, key_check_interval_s=1.0)
    async with serve(settings) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(200):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
        yield url


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def _token(pool: asyncpg.Pool[Any], name: str) -> tuple[int, dict[str, Any]]:
    key_id, token = await create_key(pool, name, ["read"])
    return key_id, {"authorization": f"Bearer {token}", "purpose": f"watch {name}"}


async def _start(ws: ClientConnection, protocol: str, op: str, doc: str, f: Any) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": doc, "variables": {"f": f}}
    await ws.send(json.dumps({"id": op, "type": kind, "payload": payload}))


async def _frames(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every result or error frame until `seconds` pass without one."""
    frames: list[dict[str, Any]] = []
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), seconds))
        except TimeoutError:
            return frames
        if frame["type"] not in ("ka", "pong"):
            frames.append(frame)


async def _alerts(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """The next `n` alerts sent, by operation id."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        while len(got) < n:
            frame = json.loads(await ws.recv())
            if frame["type"] in ("ka", "pong"):
                continue
            assert frame["type"] in ("next", "data") and "errors" not in frame["payload"], frame
            got.append({"op": frame["id"], **frame["payload"]["data"]["alertRaised"]})
    return got


async def _pass(
    pool: asyncpg.Pool[Any],
    matcher: Matcher,
    conn: asyncpg.Connection[Any],
    plate: str,
    camera: str,
    minutes: float,
) -> None:
    """One read of `plate` at `camera`, `minutes` ago, through a matcher round."""
    await store(pool, [read(plate, camera, minutes_ago(minutes), node__site="north")])
    await drain(matcher, conn)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_one_message_per_pass_filtered_and_audited_before_it_is_sent(
    base_url: str,
    pool: asyncpg.Pool[Any],
    conn: asyncpg.Connection[Any],
    database_url: str,
    protocol: str,
) -> None:
    t = tag()
    name, camera, plate = f"stolen {t}", f"cam-{t}", f"AR{t}"
    hotlist = await add_list(pool, name, priority=70)
    entry = await add_entry(pool, hotlist, plate, reason="stolen")
    matcher = await new_matcher(conn, database_url)
    key_id, init = await _token(pool, f"desk {t}")
    mine = {"hotlist": name, "camera": camera}
    async with live_socket(base_url, init, protocol) as ws:
        await _start(ws, protocol, "list", ALERT.format(n=t), mine)
        await _start(ws, protocol, "urgent", ALERT.format(n=t), {"priorityAtLeast": 70})
        await _start(ws, protocol, "site", ALERT.format(n=t), {"site": "north", **mine})
        await _start(ws, protocol, "deep", DEEP, mine)
        for op, f in (("higher", {"priorityAtLeast": 71}), ("south", {"site": "south"})):
            await _start(ws, protocol, op, ALERT.format(n=t), {**f, "camera": camera})
        await _start(ws, protocol, "other", ALERT.format(n=t), {"hotlist": f"other {t}"})
        await asyncio.sleep(0.5)  # subscribed before the alert is raised

        await _pass(pool, matcher, conn, plate, camera, 30)
        first = await _alerts(ws, 4)
        # The audit record was committed before the first alert left.
        rows = await pool.fetch(
            "SELECT purpose FROM audit_log WHERE key_id = $1 AND operation = $2",
            str(key_id),
            f"Watch{t}",
        )
        assert rows and {r["purpose"] for r in rows} == {f"watch desk {t}"}
        [alert] = await pool.fetch("SELECT * FROM alerts WHERE entry_id = $1", entry)
        by_op = {a.pop("op"): a for a in first}
        assert set(by_op) == {"list", "urgent", "site", "deep"}
        assert by_op["list"] == by_op["urgent"] == by_op["site"]
        assert by_op["list"] == {
            "id": str(alert["alert_id"]),
            "hotlistName": name,
            "reason": "stolen",
            "priority": 70,
            "cameraId": camera,
            "siteId": "north",
            "plateRead": plate,
            "entryPlate": plate,
            "cost": 0.0,
            "edits": [],
            "regionMismatch": False,
            "historical": False,
            "readCount": 1,
            "status": "NEW",
            "bestEventId": str(alert["best_event_id"]),
            "checklist": None,
        }
        deep = by_op["deep"]
        assert deep["id"] == str(alert["alert_id"])
        assert [r["event"]["plateNormalized"] for r in deep["reads"]] == [plate]
        assert deep["entry"] == {"plate": plate, "reason": "stolen"}
        assert deep["hotlist"] == {"name": name, "priority": 70}

        # A read joining the open pass raises nothing: nothing is sent.
        await _pass(pool, matcher, conn, plate, camera, 29.5)
        assert await _frames(ws, 2.5) == []
        joined = await pool.fetchval("SELECT read_count FROM alerts WHERE entry_id = $1", entry)
        assert joined == 2
        # The next pass is a new alert, sent once to each matching subscription.
        await _pass(pool, matcher, conn, plate, camera, 10)
        second = await _alerts(ws, 4)
        assert {a["op"] for a in second} == {"list", "urgent", "site", "deep"}
        ids = {a["id"] for a in second}
        assert len(ids) == 1 and ids != {str(alert["alert_id"])}
        assert await _frames(ws, 1.0) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_revoked_key_closes_its_alert_socket_within_5s(
    base_url: str,
    pool: asyncpg.Pool[Any],
    conn: asyncpg.Connection[Any],
    database_url: str,
    protocol: str,
) -> None:
    t = tag()
    camera, plate = f"cam-{t}", f"RV{t}"
    hotlist = await add_list(pool, f"revoked {t}")
    await add_entry(pool, hotlist, plate)
    matcher = await new_matcher(conn, database_url)
    key_id, init = await _token(pool, f"wall {t}")
    _, other = await _token(pool, f"bystander {t}")
    async with (
        live_socket(base_url, init, protocol) as ws,
        live_socket(base_url, other, protocol) as bystander,
    ):
        for socket in (ws, bystander):
            await _start(socket, protocol, "live", ALERT.format(n=t), {"camera": camera})
        await asyncio.sleep(0.5)
        await _pass(pool, matcher, conn, plate, camera, 30)
        assert len(await _alerts(ws, 1)) == len(await _alerts(bystander, 1)) == 1

        await revoke_key(pool, key_id)
        revoked_at = time.monotonic()
        code = None
        try:
            async with asyncio.timeout(5):
                while True:
                    frame = json.loads(await ws.recv())
                    assert frame["type"] in ("ka", "pong"), frame
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        assert code == 4403 and time.monotonic() - revoked_at < 5.0
        # The other key's socket stays and gets the next pass.
        await _pass(pool, matcher, conn, plate, camera, 5)
        assert len(await _alerts(bystander, 1)) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("field", "value"),
    [("hotlist", "a\x00b"), ("site", "\ud800"), ("camera", "x\x00"), ("camera", "")],
)
async def test_a_filter_postgresql_cannot_take_is_bad_user_input(
    base_url: str, pool: asyncpg.Pool[Any], protocol: str, field: str, value: str
) -> None:
    _, init = await _token(pool, f"typo {uuid.uuid4().hex[:6]}")
    async with live_socket(base_url, init, protocol) as ws:
        await _start(ws, protocol, "bad", ALERT.format(n="Bad"), {field: value})
        frame, *rest = await _frames(ws, 2.0)
    assert [f["type"] for f in rest] in ([], ["complete"]), rest
    payload = frame["payload"]
    errors = payload if isinstance(payload, list) else payload.get("errors", [payload])
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", frame
    assert field in errors[0]["message"], frame


async def test_historical_alerts_are_not_sent_live(
    base_url: str, pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    camera, plate = f"cam-{t}", f"HS{t}"
    matcher = await new_matcher(conn, database_url)
    await store(pool, [read(plate, camera, minutes_ago(60))])
    await drain(matcher, conn)  # no entry yet: no alert
    hotlist = await add_list(pool, f"past {t}")
    entry = await add_entry(pool, hotlist, plate)
    _, init = await _token(pool, f"past {t}")
    async with live_socket(base_url, init) as ws:
        await _start(ws, "graphql-transport-ws", "live", ALERT.format(n=t), {"camera": camera})
        await asyncio.sleep(0.5)
        await pool.execute(
            "INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since) VALUES ($1, $2, $3)",
            hotlist,
            [entry],
            minutes_ago(120),
        )
        assert await backfill.run_next(conn, matcher.settings) is not None
        assert await pool.fetchval(
            "SELECT count(*) FROM alerts WHERE entry_id = $1 AND historical", entry
        )
        assert await _frames(ws, 2.5) == []
        await _pass(pool, matcher, conn, plate, camera, 0)
        assert len(await _alerts(ws, 1)) == 1
