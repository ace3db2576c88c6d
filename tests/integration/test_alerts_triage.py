"""Alert reading, triage rules and the report in core.alerts against a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core import alerts
from core.alerts import AlertFilter, Checklist
from core.hotlists import Actor
from schema.errors import InvalidRequest, NotFound
from tests.integration.alert_rows import raise_alert

DESK = Actor("desk-7", key_id="kd", client="10.0.0.7", purpose="shift")


async def test_pages_filters_and_reads(pool: asyncpg.Pool[Any]) -> None:
    first = await raise_alert(pool, "pages", "PAGE01", reads=3)
    second = await raise_alert(pool, "pages", "PAGE02", camera="cam-2", site="south")
    third = await raise_alert(pool, "pages", "PAGE03", historical=True)
    page, more = await alerts.list_alerts(pool, AlertFilter(hotlist="pages"), 2)
    assert [a.alert_id for a in page] == [third, second] and more
    rest, more = await alerts.list_alerts(pool, AlertFilter(hotlist="pages"), 2, page[-1].alert_id)
    assert [a.alert_id for a in rest] == [first] and not more
    by_site, _ = await alerts.list_alerts(pool, AlertFilter(site_id="south"), 10)
    assert [a.alert_id for a in by_site] == [second]
    live, _ = await alerts.list_alerts(pool, AlertFilter(hotlist="pages", historical=False), 10)
    assert third not in [a.alert_id for a in live]
    alert = await alerts.get_alert(pool, first)
    assert (alert.hotlist, alert.reason, alert.entry_plate, alert.status) == (
        "pages",
        "stolen",
        "PAGE01",
        "new",
    )
    reads = await alerts.alert_reads(pool, first)
    assert len(reads) == 3 and all(r.event is not None for r in reads)
    assert reads[0].event is not None and reads[0].event["plate_normalized_text"] == "PAGE01"
    with pytest.raises(NotFound):
        await alerts.get_alert(pool, 10**9)


async def test_triage_moves_forward_only(pool: asyncpg.Pool[Any]) -> None:
    alert_id = await raise_alert(pool, "triage", "TRI001")
    acked = await alerts.acknowledge(pool, alert_id, DESK)
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "desk-7")
    with pytest.raises(InvalidRequest, match="only a new alert"):
        await alerts.acknowledge(pool, alert_id, DESK)
    with pytest.raises(InvalidRequest, match="every answer"):
        await alerts.close(pool, alert_id, "confirmed", DESK, checklist=Checklist(True, True, None))
    with pytest.raises(InvalidRequest, match="disposition"):
        await alerts.close(pool, alert_id, "arrested", DESK)
    closed = await alerts.close(
        pool, alert_id, "confirmed", DESK, note="stopped", checklist=Checklist(True, False, True)
    )
    assert (closed.status, closed.disposition, closed.closed_by) == (
        "closed",
        "confirmed",
        "desk-7",
    )
    assert closed.checklist == {
        "image_matches_entry": True,
        "region_matches": False,
        "entry_still_active": True,
    }
    with pytest.raises(InvalidRequest, match="closed already"):
        await alerts.close(pool, alert_id, "no_action", DESK)
    with pytest.raises(InvalidRequest, match="is closed"):
        await alerts.acknowledge(pool, alert_id, DESK)
    direct = await raise_alert(pool, "triage", "TRI002")
    shut = await alerts.close(pool, direct, "misread", DESK)
    assert shut.status == "closed" and shut.acknowledged_at is None
    audit = await pool.fetch(
        "SELECT operation, key_id, purpose, variables::text AS v FROM audit_log"
        " WHERE operation LIKE 'alert.%' ORDER BY audit_id"
    )
    assert [r["operation"] for r in audit] == ["alert.acknowledge", "alert.close", "alert.close"]
    assert all((r["key_id"], r["purpose"]) == ("kd", "shift") for r in audit)
    assert json.loads(audit[1]["v"])["disposition"] == "confirmed"


async def test_the_report_counts_without_plates(pool: asyncpg.Pool[Any]) -> None:
    a = await raise_alert(pool, "report", "REP001", reason="stolen", reads=2)
    await raise_alert(pool, "report", "REP002", reason="stolen", reads=1)
    await raise_alert(pool, "report", "REP003", reason="amber", reads=4)
    await alerts.close(pool, a, "no_action", DESK)
    now = datetime.now(UTC)
    rows = [
        r for r in await alerts.report(pool, now - timedelta(days=1), now) if r.hotlist == "report"
    ]
    counted = {(r.reason, r.status, r.disposition): (r.alerts, r.reads) for r in rows}
    assert counted == {
        ("amber", "new", None): (1, 4),
        ("stolen", "closed", "no_action"): (1, 2),
        ("stolen", "new", None): (1, 1),
    }
    assert "REP" not in repr(rows)
    with pytest.raises(InvalidRequest):
        await alerts.report(pool, now, now)
