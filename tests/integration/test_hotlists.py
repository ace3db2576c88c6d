"""Hotlist management in core.hotlists against a real PostgreSQL: lists,
entries, webhooks, their audit records, revisions, notifications and backfill
requests, and staleness."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core import hotlists
from core.hotlists import Actor, EntryChanges, EntryFilter, EntrySpec, HotlistChanges, HotlistSpec
from schema.errors import InvalidRequest, NotFound

WHO = Actor("dispatcher", key_id="k1", client="127.0.0.1", purpose="daily update")


async def _audit(pool: asyncpg.Pool[Any], operation: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT key_id, client, purpose, variables::text AS v FROM audit_log "
        "WHERE operation = $1 ORDER BY audit_id",
        operation,
    )
    return [{**dict(r), "v": json.loads(r["v"])} for r in rows]


async def test_create_update_delete_a_list(pool: asyncpg.Pool[Any]) -> None:
    spec = HotlistSpec(name="Stolen CA", priority=90, site_ids=["north"], max_age=timedelta(days=1))
    made = await hotlists.create_hotlist(pool, spec, WHO)
    assert (made.name, made.priority, made.site_ids, made.stale) == (
        "Stolen CA",
        90,
        ["north"],
        False,
    )
    assert made.revision == 2 and made.entry_count == 0 and made.created_by == "dispatcher"
    with pytest.raises(InvalidRequest, match="exists"):
        await hotlists.create_hotlist(pool, spec, WHO)
    changed = await hotlists.update_hotlist(
        pool, "Stolen CA", HotlistChanges(priority=95, match_mode="fuzzy", max_cost=1.5), WHO
    )
    assert (changed.priority, changed.match_mode, changed.max_cost, changed.revision) == (
        95,
        "fuzzy",
        1.5,
        3,
    )
    assert changed.site_ids == ["north"]  # kept
    records = await _audit(pool, "hotlist.update")
    assert records[-1]["v"] == {
        "hotlist": "Stolen CA",
        "priority": 95,
        "match_mode": "fuzzy",
        "max_cost": 1.5,
        "by": "dispatcher",
    }
    assert (records[-1]["key_id"], records[-1]["purpose"]) == ("k1", "daily update")
    gone = await hotlists.delete_hotlist(pool, "Stolen CA", WHO)
    assert gone.deleted_at is not None
    assert "Stolen CA" not in [h.name for h in await hotlists.list_hotlists(pool)]
    with pytest.raises(NotFound):
        await hotlists.get_hotlist(pool, "Stolen CA")
    assert len(await _audit(pool, "hotlist.create")) >= 1
    assert len(await _audit(pool, "hotlist.delete")) == 1


async def test_entries_are_normalized_audited_and_backfilled(pool: asyncpg.Pool[Any]) -> None:
    listed = await hotlists.create_hotlist(pool, HotlistSpec(name="wanted"), WHO)
    entry = await hotlists.add_entry(
        pool,
        "wanted",
        EntrySpec(plate="abc-123", region=" ca ", reason="stolen", case_number="C-1"),
        WHO,
        backfill_days=7,
    )
    assert (entry.plate, entry.region, entry.effective_mode, entry.active) == (
        "ABC123",
        "CA",
        "exact",
        True,
    )
    with pytest.raises(InvalidRequest, match="active entry"):
        await hotlists.add_entry(
            pool, "wanted", EntrySpec(plate="ABC 123", region="CA", reason="x"), WHO
        )
    with pytest.raises(InvalidRequest, match="wildcard"):
        await hotlists.add_entry(pool, "wanted", EntrySpec(plate="AB*", reason="x"), WHO)
    pattern = await hotlists.add_entry(
        pool, "wanted", EntrySpec(plate="ab?12*", reason="amber", match_mode="wildcard"), WHO
    )
    assert pattern.plate == "AB?12*"
    with pytest.raises(InvalidRequest):
        await hotlists.add_entry(pool, "wanted", EntrySpec(plate="--", reason="x"), WHO)
    with pytest.raises(NotFound):
        await hotlists.add_entry(pool, "nope", EntrySpec(plate="X1", reason="x"), WHO)

    backfill = await pool.fetchrow(
        "SELECT entry_ids, now() - since AS back FROM hotlist_backfills WHERE $1 = ANY(entry_ids)",
        entry.entry_id,
    )
    assert backfill is not None and backfill["entry_ids"] == [entry.entry_id]
    assert timedelta(days=6, hours=23) < backfill["back"] <= timedelta(days=7, minutes=1)

    updated = await hotlists.update_entry(
        pool,
        entry.entry_id,
        EntryChanges(notes="blue sedan", match_mode="fuzzy", max_cost=0.5),
        WHO,
    )
    assert (updated.notes, updated.effective_mode, updated.effective_max_cost) == (
        "blue sedan",
        "fuzzy",
        0.5,
    )
    with pytest.raises(InvalidRequest, match="wildcard"):
        await hotlists.update_entry(pool, entry.entry_id, EntryChanges(match_mode="wildcard"), WHO)
    removed = await hotlists.remove_entry(pool, entry.entry_id, WHO)
    assert removed.removed_by == "dispatcher" and not removed.active
    with pytest.raises(NotFound):
        await hotlists.remove_entry(pool, entry.entry_id, WHO)

    page, more = await hotlists.list_entries(pool, listed.hotlist_id, EntryFilter(active=True), 10)
    assert [e.plate for e in page] == ["AB?12*"] and not more
    every, _ = await hotlists.list_entries(pool, listed.hotlist_id, EntryFilter(), 1)
    older, more = await hotlists.list_entries(
        pool, listed.hotlist_id, EntryFilter(), 1, every[0].entry_id
    )
    assert [e.plate for e in older] == ["ABC123"] and not more
    for operation in ("hotlist.entry.add", "hotlist.entry.update", "hotlist.entry.remove"):
        assert await _audit(pool, operation), operation
    assert (await hotlists.get_hotlist(pool, "wanted")).revision == 1 + 5


async def test_changes_notify_the_matcher(pool: asyncpg.Pool[Any], database_url: str) -> None:
    listener = await asyncpg.connect(database_url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("alpr_hotlists", lambda *args: heard.put_nowait(args[3]))
    try:
        made = await hotlists.create_hotlist(pool, HotlistSpec(name="notified"), WHO)
        assert await asyncio.wait_for(heard.get(), 5) == str(made.hotlist_id)
        await hotlists.add_entry(pool, "notified", EntrySpec(plate="N0T1FY", reason="x"), WHO)
        assert await asyncio.wait_for(heard.get(), 5) == str(made.hotlist_id)
    finally:
        await listener.close()


async def test_webhook_secret_is_never_returned_or_audited(pool: asyncpg.Pool[Any]) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="hooked"), WHO)
    secret = "s3cret-s3cret-s3cret"
    with pytest.raises(InvalidRequest, match="secret"):
        await hotlists.set_webhook(pool, "hooked", "https://example.test/h", "short", WHO)
    with pytest.raises(InvalidRequest, match="url"):
        await hotlists.set_webhook(pool, "hooked", "ftp://example.test/h", secret, WHO)
    hook = await hotlists.set_webhook(pool, "hooked", "https://example.test/h", secret, WHO)
    assert secret not in repr(hook)
    assert (await hotlists.get_hotlist(pool, "hooked")).has_webhook
    audit = await pool.fetch("SELECT variables::text AS v FROM audit_log")
    assert all(secret not in row["v"] for row in audit)
    assert await hotlists.remove_webhook(pool, "hooked", WHO)
    assert not await hotlists.remove_webhook(pool, "hooked", WHO)
    assert not (await hotlists.get_hotlist(pool, "hooked")).has_webhook


async def test_a_list_past_its_max_age_is_stale(pool: asyncpg.Pool[Any]) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="daily", max_age=timedelta(hours=24)), WHO)
    await pool.execute(
        "UPDATE hotlists SET refreshed_at = $1 WHERE name = 'daily'",
        datetime.now(UTC) - timedelta(hours=25),
    )
    assert (await hotlists.get_hotlist(pool, "daily")).stale
    found = {s.name: s for s in await hotlists.staleness(pool)}
    assert found["daily"].stale and found["daily"].age_s > 24 * 3600
    await hotlists.add_entry(pool, "daily", EntrySpec(plate="FRESH1", reason="x"), WHO)
    assert not (await hotlists.get_hotlist(pool, "daily")).stale
