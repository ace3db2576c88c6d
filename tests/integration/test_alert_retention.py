"""Retention and alerts, on a real database of either engine: an open or
confirmed alert holds its reads like a legal hold does (its partition is
emptied row by row, not dropped), closing it lets them go, and closed alerts
go after ALPR_ALERT_RETENTION_DAYS with their alert_reads and delivered
webhook messages. Each test gets its own migrated database: retention drops
partitions."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from core import alerts
from core.migrate import migrate
from core.settings import RetentionSettings
from ingestor.retention import RetentionPolicy, run_retention
from tests.conftest import create_database, drop_database
from tests.integration.alert_rows import SETUP, raise_alert
from tests.integration.test_retention import NOW, _event, _ids, _partition_days, _store

CONFIRM = alerts.Checklist(True, True, True)


@pytest.fixture
async def db(pg_admin_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    url = await create_database(pg_admin_url)
    await migrate(url, os.environ.get("ALPR_TEST_DB_ENGINE", "auto"))  # type: ignore[arg-type]
    pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
    assert pool is not None
    yield pool
    await pool.close()
    await drop_database(pg_admin_url, url)


async def _retain(pool: asyncpg.Pool[Any], policy: RetentionPolicy, days_later: float = 0) -> Any:
    async with pool.acquire() as conn:
        return await run_retention(conn, policy, now=NOW + timedelta(days=days_later))


async def _alert_on(pool: asyncpg.Pool[Any], plate: str, days_ago: float) -> tuple[int, UUID]:
    """An alert (as the matcher records one) on one read of `plate`; (alert id, read id)."""
    alert_id = await raise_alert(
        pool, "retention", plate, reads=1, at=NOW - timedelta(days=days_ago)
    )
    read = await pool.fetchval("SELECT event_id FROM alert_reads WHERE alert_id = $1", alert_id)
    return alert_id, read


async def test_open_and_confirmed_alerts_hold_their_reads_until_closed(
    db: asyncpg.Pool[Any],
) -> None:
    pool = db
    new, new_read = await _alert_on(pool, "NEW1", 40)
    acked, acked_read = await _alert_on(pool, "ACK1", 40.1)
    confirmed, confirmed_read = await _alert_on(pool, "CONF1", 40.2)
    misread, misread_read = await _alert_on(pool, "MIS1", 40.3)
    free = _event(40.4, "FREE1")
    free_day = _event(45, "FREE2")
    recent = _event(1, "NEW1")
    await _store(pool, [free, free_day, recent])
    await alerts.acknowledge(pool, acked, SETUP)
    await alerts.close(pool, confirmed, "confirmed", SETUP, checklist=CONFIRM)
    await alerts.close(pool, misread, "misread", SETUP)
    held_day = (NOW - timedelta(days=40)).replace(hour=0)
    free_day_start = (NOW - timedelta(days=45)).replace(hour=0)

    report = await _retain(pool, RetentionPolicy(default_days=30))

    assert await _ids(pool) == {new_read, acked_read, confirmed_read, recent.event_id}
    assert report.deleted_rows == 3 and report.held_rows_kept == 3
    # The day with held reads is emptied row by row; the other went whole.
    assert held_day in await _partition_days(pool)
    assert free_day_start not in await _partition_days(pool)
    methods = {(d.method, d.row_count, d.held_rows_kept) for d in report.deletions}
    assert ("delete_rows", 2, 3) in methods and ("drop_partition", 1, 0) in methods
    # What alert_reads kept of a read retention took stays with its alert.
    [kept] = await alerts.alert_reads(pool, misread)
    assert kept.event_id == misread_read and kept.event is None
    # The held plates keep their plate rows; a plate with no read left goes.
    plates = {r[0] for r in await pool.fetch("SELECT plate_normalized_text FROM plates")}
    assert {"NEW1", "ACK1", "CONF1"} <= plates and "MIS1" not in plates

    # Closing releases an open alert's reads; a confirmed one keeps holding.
    await alerts.close(pool, new, "no_action", SETUP)
    await alerts.close(pool, acked, "entry_outdated", SETUP)
    again = await _retain(pool, RetentionPolicy(default_days=30))
    assert await _ids(pool) == {confirmed_read, recent.event_id}
    assert again.deleted_rows == 2 and again.held_rows_kept == 1
    # Alerts themselves stay while no alert retention is set.
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 4


async def test_closed_alerts_go_after_their_retention_age(db: asyncpg.Pool[Any]) -> None:
    pool = db
    old_closed, _ = await _alert_on(pool, "OLD1", 20)
    confirmed, confirmed_read = await _alert_on(pool, "CONF2", 20.1)
    recently_closed, recent_read = await _alert_on(pool, "RCL1", 20.2)
    still_open, open_read = await _alert_on(pool, "OPEN1", 20.3)
    await alerts.close(pool, old_closed, "misread", SETUP)
    await alerts.close(pool, confirmed, "confirmed", SETUP, checklist=CONFIRM)
    await alerts.close(pool, recently_closed, "no_action", SETUP)
    webhook = await pool.fetchval(
        "INSERT INTO webhooks (hotlist_id, url, secret, created_by)"
        " SELECT hotlist_id, 'http://127.0.0.1:9/hook', $1, 't' FROM hotlists"
        " WHERE name = 'retention' RETURNING webhook_id",
        "s" * 32,
    )
    await pool.executemany(
        "INSERT INTO webhook_outbox (webhook_id, alert_id, kind, payload, delivered_at)"
        " VALUES ($1, $2, 'alert', '{}', $3)",
        [(webhook, old_closed, NOW), (webhook, confirmed, None)],
    )
    # Digests of past hits: one delivered before the cutoff, one after, one owed.
    await pool.executemany(
        "INSERT INTO webhook_outbox (webhook_id, kind, payload, delivered_at)"
        " VALUES ($1, 'digest', '{}', $2)",
        [(webhook, NOW - timedelta(days=10)), (webhook, NOW), (webhook, None)],
    )
    # Two closed 15 days before the run (5 days from now), one 5 days before it.
    await pool.execute(
        "UPDATE alerts SET closed_at = closed_at - interval '10 days' WHERE alert_id = ANY($1)",
        [old_closed, confirmed],
    )

    policy = RetentionPolicy(default_days=15, alert_days=7)
    report = await _retain(pool, policy, days_later=5)

    left = {r[0] for r in await pool.fetch("SELECT alert_id FROM alerts")}
    assert left == {recently_closed, still_open}
    assert [(d.method, d.row_count) for d in report.deletions if d.method == "delete_alerts"] == [
        ("delete_alerts", 2)
    ]
    remaining_reads = await pool.fetch("SELECT alert_id FROM alert_reads")
    assert {r[0] for r in remaining_reads} == {recently_closed, still_open}
    # The delivered message of a deleted alert went, and the digest delivered
    # before the cutoff; the messages still owed and the newer digest stay.
    outbox = await pool.fetch(
        "SELECT kind, alert_id, delivered_at FROM webhook_outbox ORDER BY delivery_id"
    )
    assert [(r["kind"], r["alert_id"], r["delivered_at"]) for r in outbox] == [
        ("alert", None, None),
        ("digest", None, NOW),
        ("digest", None, None),
    ]
    # The confirmed alert's read went in the same run; the open one holds.
    assert open_read in await _ids(pool)
    assert confirmed_read not in await _ids(pool) and recent_read not in await _ids(pool)
    assert report.deleted_rows == 3  # reads only: not the alerts
    recorded = await pool.fetchval(
        "SELECT row_count FROM retention_deletions WHERE run_id = $1 AND method = 'delete_alerts'",
        report.run_id,
    )
    assert recorded == 2


async def test_alert_retention_alone_runs(db: asyncpg.Pool[Any]) -> None:
    pool = db
    closed, read = await _alert_on(pool, "ONLY1", 400)
    await alerts.close(pool, closed, "misread", SETUP)
    report = await _retain(pool, RetentionPolicy(alert_days=1), days_later=2)
    assert report.run_id is not None
    assert await pool.fetchval("SELECT count(*) FROM alerts") == 0
    assert read in await _ids(pool)  # reads are kept forever without a read age


def test_the_settings_name_the_alert_age() -> None:
    unset = RetentionSettings.model_validate({"alert_retention_days": ""})
    assert RetentionPolicy.from_settings(unset).alert_days is None
    policy = RetentionPolicy.from_settings(
        RetentionSettings(retention_days=30, alert_retention_days=7)
    )
    assert policy == RetentionPolicy(30, {}, 7) and policy.enabled
    assert RetentionPolicy(alert_days=7).enabled
