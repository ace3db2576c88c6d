"""Webhooks against a real HTTP receiver: a receiver down for 30 s gets every
alert afterwards, in order, signed; attempts are logged and the webhook is
marked failing meanwhile."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from alerts import service
from alerts.webhooks import Deliverer, sign
from tests.integration.alerts_support import (
    add_entry,
    add_list,
    alerts_of,
    drain,
    new_matcher,
    read,
    settings,
    store,
    tag,
)
from tests.integration.webhook_receiver import Receiver

SECRET = "a-webhook-secret-of-32-characters"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    # From openssl: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    expected = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
    assert sign("key", "1700000000", b"{}") == f"sha256={expected}"


@pytest.mark.slow
async def test_receiver_down_for_30_s_gets_every_alert_in_order(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    t = tag()
    hotlist = await add_list(pool)
    receiver = Receiver(_free_port())
    await pool.execute(
        "INSERT INTO webhooks (hotlist_id, url, secret, created_by) VALUES ($1, $2, $3, 't')",
        hotlist,
        receiver.url,
        SECRET,
    )
    entries = [await add_entry(pool, hotlist, f"D{t}{i}") for i in range(12)]
    stop = asyncio.Event()
    running = asyncio.create_task(
        service.run(
            settings(database_url, webhook_backoff_base_s=0.5, webhook_backoff_cap_s=4.0), stop
        )
    )
    try:

        async def following() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM follower_positions"))

        await _wait_for(following)
        # The receiver is down: alerts are raised and their deliveries wait.
        for i in range(6):
            await store(pool, [read(f"D{t}{i}", f"cam-{i}-{t}")])
        down_for = asyncio.create_task(asyncio.sleep(30))

        async def failing() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT failing_since IS NOT NULL AND last_error IS NOT NULL FROM webhooks"
                )
            )

        await _wait_for(failing)
        for i in range(6, 12):
            await store(pool, [read(f"D{t}{i}", f"cam-{i}-{t}")])
            await asyncio.sleep(1)
        await down_for
        await receiver.start()

        async def delivered() -> bool:
            return not await pool.fetchval(
                "SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL"
            )

        await _wait_for(delivered, 30)
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
        await receiver.stop()
    alert_ids = [
        r["alert_id"]
        for r in await pool.fetch(
            "SELECT alert_id FROM alerts WHERE entry_id = ANY($1) ORDER BY alert_id", entries
        )
    ]
    assert len(alert_ids) == 12
    assert all(r.signed_by(SECRET) for r in receiver.received)
    keys = [r.headers["idempotency-key"] for r in receiver.received]
    assert keys == [f"alert-{a}" for a in alert_ids]  # each once, in order
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["alert_id"] for b in bodies] == alert_ids
    failed = await pool.fetchval(
        "SELECT count(*) FROM webhook_attempts WHERE error IS NOT NULL AND status_code IS NULL"
    )
    assert failed >= 3  # retried during the outage, with backoff
    assert await pool.fetchval("SELECT failing_since IS NULL FROM webhooks")
    ok = await pool.fetch("SELECT latency_ms FROM webhook_attempts WHERE status_code = 200")
    assert len(ok) == 12 and all(r["latency_ms"] >= 0 for r in ok)


async def test_each_delivery_is_audited_in_the_transaction_that_marks_it(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    """Plate data leaving by webhook leaves an audit row per delivery (the
    alerts process as principal, the webhook, delivery and alert ids, never
    the URL or the secret); a failed attempt delivers nothing and audits
    nothing."""
    t = tag()
    hotlist = await add_list(pool)
    receiver = Receiver(_free_port(), status=503)
    await receiver.start()
    webhook = await pool.fetchval(
        "INSERT INTO webhooks (hotlist_id, url, secret, created_by) VALUES ($1, $2, $3, 't') "
        "RETURNING webhook_id",
        hotlist,
        receiver.url,
        SECRET,
    )
    entry = await add_entry(pool, hotlist, f"W{t}")
    async with pool.acquire() as conn:
        matcher = await new_matcher(conn, database_url)
        await store(pool, [read(f"W{t}", f"cam-{t}")])
        await drain(matcher, conn)
    [alert] = await alerts_of(pool, entry)
    digest = await pool.fetchval(
        "INSERT INTO webhook_outbox (webhook_id, kind, payload) VALUES ($1, 'digest', $2::jsonb) "
        "RETURNING delivery_id",
        webhook,
        json.dumps({"kind": "digest", "alerts": [{"alert_id": alert["alert_id"]}]}),
    )

    async def audit_rows() -> list[asyncpg.Record]:
        return list(
            await pool.fetch(
                "SELECT * FROM audit_log WHERE operation = 'webhook.deliver' "
                "AND (variables ->> 'webhook_id')::bigint = $1 ORDER BY audit_id",
                webhook,
            )
        )

    deliverer = Deliverer(pool, settings(database_url, webhook_backoff_base_s=0.2))
    try:
        async with httpx.AsyncClient() as client:
            await deliverer.deliver_due(client)
            refused = await pool.fetchval(
                "SELECT count(*) FROM webhook_attempts AS a JOIN webhook_outbox AS o "
                "USING (delivery_id) WHERE o.webhook_id = $1 AND a.status_code = 503",
                webhook,
            )
            assert refused == 1  # attempted, not delivered
            assert await audit_rows() == []
            receiver.status = 200

            async def delivered() -> bool:
                await deliverer.deliver_due(client)
                return not await pool.fetchval(
                    "SELECT count(*) FROM webhook_outbox "
                    "WHERE webhook_id = $1 AND delivered_at IS NULL",
                    webhook,
                )

            await _wait_for(delivered, 30)
    finally:
        await receiver.stop()
    rows = await audit_rows()
    assert [(r["key_id"], r["client"], r["purpose"]) for r in rows] == [
        (None, "system:alerts", "webhook delivery")
    ] * 2
    variables = [json.loads(r["variables"]) for r in rows]
    assert [(v["kind"], v["alert_ids"], v["status_code"]) for v in variables] == [
        ("alert", [alert["alert_id"]], 200),
        ("digest", [alert["alert_id"]], 200),
    ]
    assert variables[1]["delivery_id"] == digest and variables[0]["attempt"] == 2
    assert [r["result_count"] for r in rows] == [1, 1]
    assert all(SECRET not in r["variables"] and "127.0.0.1" not in r["variables"] for r in rows)
    # Same transaction as the marking: an audit row per delivered delivery, and only those.
    marked = await pool.fetchval(
        "SELECT count(*) FROM webhook_outbox WHERE webhook_id = $1 AND delivered_at IS NOT NULL",
        webhook,
    )
    assert marked == len(rows)
