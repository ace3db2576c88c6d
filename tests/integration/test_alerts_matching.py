"""The alert matcher against a real PostgreSQL: which reads hit which entries,
one alert per pass, past hits, and a follower that never skips a batch."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from alerts import backfill
from core import hotlists
from core.hotlist_import import ImportOptions, import_file
from core.hotlists import Actor, HotlistSpec
from ingestor.writer import prune_announcements, write_batch
from tests.integration.alerts_support import (
    add_entry,
    add_list,
    alerts_of,
    drain,
    minutes_ago,
    new_matcher,
    read,
    settings,
    store,
    tag,
)
from tests.support.plate_variants import every_variant, random_plate

WHO = Actor("importer", client="cli", purpose="nightly extract")


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def test_exact_hits_and_near_misses_expiry_scope(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    everywhere = await add_list(pool, priority=90)
    at_dc2 = await add_list(pool, site_ids=["DC2"])
    at_camera = await add_list(pool, camera_ids=[f"cam-x-{t}"])
    hit = await add_entry(pool, everywhere, f"H{t}1", region="FL")
    expired = await add_entry(
        pool, everywhere, f"E{t}1", valid_from=minutes_ago(60), valid_until=minutes_ago(30)
    )
    removed = await add_entry(
        pool, everywhere, f"R{t}1", removed_by="test", removed_at=minutes_ago(1)
    )
    scoped = await add_entry(pool, at_dc2, f"S{t}1")
    by_camera = await add_entry(pool, at_camera, f"C{t}1")
    matcher = await new_matcher(conn, database_url)
    await store(
        pool,
        [
            read(f"H{t}1", f"cam-{t}", plate__region="US-FL"),
            read(f"H{t}2", f"cam-{t}"),  # one character off an exact entry: no hit
            read(f"E{t}1", f"cam-{t}"),
            read(f"R{t}1", f"cam-{t}"),
            read(f"S{t}1", f"cam-{t}"),  # site DC1 (the factory's), list is DC2's
            read(f"C{t}1", f"cam-x-{t}"),
        ],
    )
    assert await drain(matcher, conn) == 1
    [alert] = await alerts_of(pool, hit)
    assert alert["cost"] == 0 and json.loads(alert["edits"]) == []
    assert not alert["region_mismatch"] and alert["priority"] == 90
    assert alert["status"] == "new" and not alert["historical"]
    assert await alerts_of(pool, expired) == []
    assert await alerts_of(pool, removed) == []
    assert await alerts_of(pool, scoped) == []
    assert len(await alerts_of(pool, by_camera)) == 1


async def test_region_mismatch_is_flagged_not_hidden(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    hotlist = await add_list(pool, match_mode="fuzzy", max_cost=1)
    exact = await add_entry(pool, hotlist, f"M{t}1", region="TX", match_mode="exact")
    fuzzy = await add_entry(pool, hotlist, f"N{t}9", region="TX")
    matcher = await new_matcher(conn, database_url)
    await store(
        pool,
        [read(f"M{t}1", f"cam-{t}", plate__region="US-FL"), read(f"N{t}9", f"cam2-{t}")],
    )
    await drain(matcher, conn)
    assert [a["region_mismatch"] for a in await alerts_of(pool, exact)] == [True]
    assert [a["region_mismatch"] for a in await alerts_of(pool, fuzzy)] == [True]


async def test_wildcard_and_fuzzy_hits_with_their_edits(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()[:3]
    hotlist = await add_list(pool, match_mode="fuzzy", max_cost=1)
    pattern = await add_entry(pool, hotlist, f"W{t}?9*", match_mode="wildcard")
    bob = await add_entry(pool, hotlist, f"BOB{t}")
    two = await add_entry(pool, hotlist, f"NVSLD{t}", max_cost=2)
    matcher = await new_matcher(conn, database_url)
    camera = f"cam-{t}"
    await store(
        pool,
        [
            read(f"W{t}X9ZZ", camera),  # pattern hit
            read(f"W{t}9ZZ", camera),  # pattern near miss: `?` needs one character
            read(f"B0B{t}", camera),  # 0 for O: a look-alike, cost 0.25
            read(f"XYZ{t}", camera),  # three plain edits: beyond cost 1
            read(f"SVSL{t}", camera),  # a substitution and a deletion: cost 2
        ],
    )
    await drain(matcher, conn)
    [p] = await alerts_of(pool, pattern)
    assert p["plate_read"] == f"W{t}X9ZZ"
    [b] = await alerts_of(pool, bob)
    assert b["cost"] == 0.25 and b["plate_read"] == f"B0B{t}"
    assert json.loads(b["edits"]) == [
        {"position": 1, "expected": "O", "read": "0", "kind": "confusion", "cost": 0.25}
    ]
    [n] = await alerts_of(pool, two)
    assert n["cost"] == 2.0 and [e["kind"] for e in json.loads(n["edits"])] == [
        "substitution",
        "deletion",
    ]


async def test_one_alert_per_pass_and_a_new_one_for_the_next(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    hotlist = await add_list(pool)
    entry = await add_entry(pool, hotlist, f"P{t}")
    matcher = await new_matcher(conn, database_url, alert_pass_window_s=60)
    camera, other = f"cam-{t}", f"cam2-{t}"
    start = minutes_ago(30)
    await store(pool, [read(f"P{t}", camera, start, plate__confidence=0.7)])
    await drain(matcher, conn)
    await store(
        pool,
        [
            read(f"P{t}", camera, start + timedelta(seconds=2), plate__confidence=0.95),
            read(f"P{t}", camera, start + timedelta(seconds=4), plate__confidence=0.8),
            read(f"P{t}", other, start + timedelta(seconds=5)),  # another camera: its own
        ],
    )
    await drain(matcher, conn)
    await store(pool, [read(f"P{t}", camera, start + timedelta(minutes=10))])  # next pass
    await drain(matcher, conn)
    alerts = await alerts_of(pool, entry)
    at_camera = [a for a in alerts if a["camera_id"] == camera]
    assert [a["read_count"] for a in at_camera] == [3, 1]
    first = at_camera[0]
    assert first["best_confidence"] == pytest.approx(0.95)
    assert first["first_seen"] == start and first["last_seen"] == start + timedelta(seconds=4)
    assert len([a for a in alerts if a["camera_id"] == other]) == 1
    reads = await pool.fetchval("SELECT count(*) FROM alert_reads WHERE entry_id = $1", entry)
    assert reads == 5


async def test_alerts_are_announced_and_queued_for_the_webhook_in_their_transaction(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    hotlist = await add_list(pool)
    await pool.execute(
        "INSERT INTO webhooks (hotlist_id, url, secret, created_by) VALUES ($1, $2, $3, 't')",
        hotlist,
        "http://127.0.0.1:9/hook",
        "s" * 32,
    )
    entry = await add_entry(pool, hotlist, f"Q{t}", case_number="C-1")
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener("alpr_alerts", lambda *args: heard.put_nowait(args[-1]))
    try:
        matcher = await new_matcher(conn, database_url)
        await store(pool, [read(f"Q{t}", f"cam-{t}")])
        await drain(matcher, conn)
        [alert] = await alerts_of(pool, entry)
        assert await asyncio.wait_for(heard.get(), 5) == str(alert["alert_id"])
    finally:
        await listener.close()
    [queued] = await pool.fetch(
        "SELECT * FROM webhook_outbox WHERE alert_id = $1", alert["alert_id"]
    )
    payload = json.loads(queued["payload"])
    assert queued["kind"] == "alert"
    assert payload["entry"]["plate"] == f"Q{t}" and payload["entry"]["case_number"] == "C-1"
    assert payload["alert_id"] == alert["alert_id"] and payload["plate_read"] == f"Q{t}"


async def test_past_hits_are_historical_grouped_and_sent_as_one_digest(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    camera = f"cam-{t}"
    old = minutes_ago(3 * 24 * 60)
    await store(
        pool,
        [
            read(f"A{t}", camera, old),
            read(f"A{t}", camera, old + timedelta(seconds=3)),  # same pass
            read(f"A{t}", camera, old + timedelta(hours=1)),  # a later pass
            read(f"8{t}", camera, old),  # fuzzy: 8 for B
            read(f"A{t}", camera, minutes_ago(40 * 24 * 60)),  # before `since`
        ],
    )
    hotlist = await add_list(pool)
    await pool.execute(
        "INSERT INTO webhooks (hotlist_id, url, secret, created_by) VALUES ($1, $2, $3, 't')",
        hotlist,
        "http://127.0.0.1:9/hook",
        "s" * 32,
    )
    exact = await add_entry(pool, hotlist, f"A{t}")
    fuzzy = await add_entry(pool, hotlist, f"B{t}", match_mode="fuzzy", max_cost=0.5)
    await pool.execute(
        "INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since) VALUES ($1, $2, $3)",
        hotlist,
        [exact, fuzzy],
        minutes_ago(30 * 24 * 60),
    )
    done = await backfill.run_next(conn, settings(database_url))
    assert done is not None and len(done.raised) == 3
    alerts = await alerts_of(pool, exact)
    assert [a["read_count"] for a in alerts] == [2, 1]
    assert all(a["historical"] for a in alerts)
    [f] = await alerts_of(pool, fuzzy)
    assert f["cost"] == 0.25 and f["historical"]
    [digest] = await pool.fetch(
        "SELECT * FROM webhook_outbox WHERE kind = 'digest' AND payload->>'backfill_id' = $1",
        str(done.backfill_id),
    )
    payload = json.loads(digest["payload"])
    assert payload["alert_count"] == 3 and len(payload["alerts"]) == 3
    assert (
        await pool.fetchval(
            "SELECT hits FROM hotlist_backfills WHERE backfill_id = $1", done.backfill_id
        )
        == 3
    )
    # The stream meets the same reads again (a batch handled twice): nothing new.
    assert await backfill.run_next(conn, settings(database_url)) is None


async def test_batches_committed_out_of_order_are_never_skipped(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    hotlist = await add_list(pool)
    first_entry = await add_entry(pool, hotlist, f"F{t}")
    second_entry = await add_entry(pool, hotlist, f"G{t}")
    # The two batches share no summary row (day, hour, site, camera), so the
    # second does not wait for the first's locks; the day exists already.
    earlier = minutes_ago(2 * 24 * 60)
    await store(pool, [read(f"Z{t}", f"cam-z-{t}", earlier, node__site=f"Z{t}")])
    matcher = await new_matcher(conn, database_url)
    slow = await asyncpg.connect(database_url)
    try:
        held = slow.transaction()
        await held.start()
        # The lower batch id, not committed yet.
        await write_batch(slow, [read(f"F{t}", f"cam-f-{t}", earlier, node__site=f"F{t}")])
        # A higher one, committed first.
        await asyncio.wait_for(store(pool, [read(f"G{t}", f"cam-g-{t}", node__site=f"G{t}")]), 20)
        await drain(matcher, conn)
        assert len(await alerts_of(pool, second_entry)) == 1  # taken above the horizon
        # A restarted matcher (no memory) at the stored watermark: the slow
        # batch is still ahead of it, the fast one is met again and skipped.
        restarted = await new_matcher(conn, database_url)
        restarted.follower.name = matcher.follower.name
        await restarted.follower.start(conn)
        await held.commit()
        await drain(matcher, conn)
        await drain(restarted, conn)
    finally:
        await slow.close()
    assert len(await alerts_of(pool, first_entry)) == 1
    assert len(await alerts_of(pool, second_entry)) == 1


async def test_pruning_keeps_batches_a_follower_has_not_handled(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    t = tag()
    matcher = await new_matcher(conn, database_url)
    await store(pool, [read(f"K{t}", f"cam-{t}")])
    batch = await pool.fetchval("SELECT max(batch_id) FROM stored_batches")
    await pool.execute(
        "UPDATE stored_batches SET stored_at = now() - interval '2 hours' WHERE batch_id = $1",
        batch,
    )
    async with pool.acquire() as c:
        await prune_announcements(c)
    assert await pool.fetchval("SELECT count(*) FROM stored_batches WHERE batch_id = $1", batch)
    await drain(matcher, conn)
    await pool.execute(
        "DELETE FROM follower_positions WHERE follower LIKE 'test-%' AND follower <> $1",
        matcher.follower.name,
    )
    async with pool.acquire() as c:
        await prune_announcements(c)
    assert not await pool.fetchval("SELECT count(*) FROM stored_batches WHERE batch_id = $1", batch)


async def test_every_variant_within_the_cost_of_sampled_entries_raises_an_alert(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    rng = random.Random(13)
    hotlist = await add_list(pool, match_mode="fuzzy")
    sample = [(random_plate(rng, 6, 7), cost) for cost in (1.0, 1.25)]
    entries = {
        await add_entry(pool, hotlist, plate, max_cost=cost): every_variant(plate, cost)
        for plate, cost in sample
    }
    matcher = await new_matcher(conn, database_url)
    reads = sorted(set().union(*entries.values()))
    camera = f"cam-{tag()}"
    for start in range(0, len(reads), 2000):
        await store(pool, [read(plate, camera) for plate in reads[start : start + 2000]])
    await drain(matcher, conn)
    for entry_id, variants in entries.items():
        caught = await pool.fetch(
            "SELECT DISTINCT e.plate_normalized_text FROM alert_reads AS r "
            "JOIN plate_events AS e USING (event_id) WHERE r.entry_id = $1",
            entry_id,
        )
        assert {r[0] for r in caught} == variants


async def test_a_lost_connection_pauses_the_matcher_and_it_resumes_without_doubles(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    from alerts import service

    t = tag()
    hotlist = await add_list(pool)
    entries = [await add_entry(pool, hotlist, f"O{t}{i}") for i in range(6)]
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(settings(database_url), stop))

    async def wait_for(check: Any, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            assert asyncio.get_running_loop().time() < deadline, "not reached in time"
            await asyncio.sleep(0.1)

    async def active() -> bool:
        return bool(
            await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'alpr-alerts-matcher'"
            )
        )

    async def raised(n: int) -> bool:
        return (
            await pool.fetchval("SELECT count(*) FROM alerts WHERE entry_id = ANY($1)", entries)
            == n
        )

    try:
        await wait_for(active)
        await wait_for(
            lambda: pool.fetchval(
                "SELECT count(*) FROM follower_positions WHERE follower = 'alerts'"
            )
        )
        for i in range(3):
            await store(pool, [read(f"O{t}{i}", f"cam-{i}-{t}")])
        await wait_for(lambda: raised(3))
        # The database drops the matcher's connection (a restart, a failover).
        await pool.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'alpr-alerts-matcher'"
        )
        for i in range(3, 6):
            await store(pool, [read(f"O{t}{i}", f"cam-{i}-{t}")])
        await wait_for(lambda: raised(6))
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
    assert (
        await pool.fetchval("SELECT count(*) FROM alert_reads WHERE entry_id = ANY($1)", entries)
        == 6
    )


async def test_the_running_matcher_searches_past_hits_while_reads_stream(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    from alerts import service

    t = tag()
    hotlist = await add_list(pool)
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(settings(database_url), stop))
    try:
        # The read is stored and passed by the stream before its entry exists.
        await store(pool, [read(f"Y{t}", f"cam-{t}", minutes_ago(60))])
        passed = (
            "SELECT coalesce((SELECT watermark FROM follower_positions "
            "WHERE follower = 'alerts') > (SELECT max(xid) FROM stored_batches), false)"
        )
        deadline = asyncio.get_running_loop().time() + 30
        while not await pool.fetchval(passed):
            assert asyncio.get_running_loop().time() < deadline, "stream did not pass the read"
            await asyncio.sleep(0.1)
        entry = await add_entry(pool, hotlist, f"Y{t}")
        await pool.execute(
            "INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since) VALUES ($1, $2, $3)",
            hotlist,
            [entry],
            minutes_ago(24 * 60),
        )
        deadline = asyncio.get_running_loop().time() + 30
        while not await pool.fetchval(
            "SELECT count(*) FROM hotlist_backfills WHERE done_at IS NOT NULL "
            "AND $1 = ANY(entry_ids)",
            entry,
        ):
            assert asyncio.get_running_loop().time() < deadline, "backfill not done"
            await store(pool, [read(f"V{t}", f"cam-{t}")])  # traffic meanwhile
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
    [alert] = await alerts_of(pool, entry)
    assert alert["historical"] and alert["read_count"] == 1


@pytest.mark.slow
async def test_a_live_read_is_alerted_in_time_while_a_large_backfill_runs(
    pool: asyncpg.Pool[Any], database_url: str
) -> None:
    """A search of past hits over 450,000 plates takes the matcher's process
    seconds; live reads stored meanwhile are alerted within their bound,
    before it ends, and it still finds its hit."""
    from alerts import service

    t = tag()
    hotlist = await add_list(pool)
    live = await add_entry(pool, hotlist, f"LL{t}LL")  # three edits from the fuzzy entry
    long_ago = minutes_ago(50 * 24 * 60)  # older than every other test's searches
    await pool.execute(
        "INSERT INTO plates (plate_normalized_text, first_seen, last_seen, read_count, "
        "last_region, last_camera_id) SELECT $1 || lpad(g::text, 7, '0'), $2, $2, 1, '', 'c' "
        "FROM generate_series(1, 450000) AS g",
        f"Q{t}",
        long_ago,
    )
    await store(pool, [read(f"F{t}", f"cam-{t}", long_ago)])
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(settings(database_url), stop))
    latencies = []
    try:
        # The stream passes the old read before its entry exists: only the search finds it.
        passed = (
            "SELECT coalesce((SELECT watermark FROM follower_positions "
            "WHERE follower = 'alerts') > (SELECT max(xid) FROM stored_batches), false)"
        )
        while not await pool.fetchval(passed):
            await asyncio.sleep(0.1)
        fuzzy = await add_entry(pool, hotlist, f"F{t}X", match_mode="fuzzy", max_cost=2.0)
        job = await pool.fetchval(
            "INSERT INTO hotlist_backfills (hotlist_id, entry_ids, since) VALUES ($1, $2, $3) "
            "RETURNING backfill_id",
            hotlist,
            [fuzzy],
            minutes_ago(60 * 24 * 60),
        )
        await asyncio.sleep(0.5)  # the search has begun
        for n in range(3):
            stored = asyncio.get_running_loop().time()
            await store(pool, [read(f"LL{t}LL", f"cam-{n}-{t}")])
            while len(await alerts_of(pool, live)) <= n:
                assert asyncio.get_running_loop().time() - stored < 10, "live read not alerted"
                await asyncio.sleep(0.05)
            latencies.append(asyncio.get_running_loop().time() - stored)
            assert not await pool.fetchval(
                "SELECT done_at IS NOT NULL FROM hotlist_backfills WHERE backfill_id = $1", job
            ), "the backfill was not large enough to overlap the live reads"
        deadline = asyncio.get_running_loop().time() + 120
        while not await pool.fetchval(
            "SELECT done_at IS NOT NULL FROM hotlist_backfills WHERE backfill_id = $1", job
        ):
            assert asyncio.get_running_loop().time() < deadline, "backfill not done"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        assert await asyncio.wait_for(running, 30) == 0
        await pool.execute("DELETE FROM plates WHERE plate_normalized_text LIKE $1", f"Q{t}%")
    assert max(latencies) < 2.0, latencies
    [past] = await alerts_of(pool, fuzzy)
    assert past["historical"] and past["cost"] == 1.0


async def test_a_list_change_reloads_only_the_changed_entries(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str
) -> None:
    """After a change the copy in memory is the same set with only the
    changed entries replaced: a removed entry and one no longer fuzzy stop
    matching, an expired one stops matching, an added one matches, untouched
    entries are the very objects loaded before; a change of the list's own
    settings reloads it whole."""
    t = tag()
    hotlist = await add_list(pool, match_mode="fuzzy", max_cost=1.0)
    plates = {name: f"{name}{t}" for name in ("KEEP", "GONE", "EXAC", "EXPI", "NEWW")}
    ids = {name: await add_entry(pool, hotlist, plates[name]) for name in plates if name != "NEWW"}
    matcher = await new_matcher(conn, database_url)
    await matcher.lists.refresh(conn)
    held = matcher.lists.lists[hotlist]
    copy, kept = held.entries, held.entries.entries[ids["KEEP"]]
    assert set(copy.entries) == set(ids.values())

    async with pool.acquire() as writer, writer.transaction():
        await writer.execute(
            "UPDATE hotlist_entries SET removed_at = now(), removed_by = 't' WHERE entry_id = $1",
            ids["GONE"],
        )
        await writer.execute(
            "UPDATE hotlist_entries SET match_mode = 'exact' WHERE entry_id = $1", ids["EXAC"]
        )
        await writer.execute(
            "UPDATE hotlist_entries SET valid_from = now() - interval '2 days', "
            "valid_until = now() - interval '1 day' WHERE entry_id = $1",
            ids["EXPI"],
        )
    ids["NEWW"] = await add_entry(pool, hotlist, plates["NEWW"])  # bumps the revision
    assert await matcher.lists.refresh(conn) == 1
    held = matcher.lists.lists[hotlist]
    assert held.entries is copy and held.entries.entries[ids["KEEP"]] is kept
    assert set(copy.entries) == {ids["KEEP"], ids["EXPI"], ids["NEWW"]}

    # One misread (a trailing extra character, cost 1) of each plate.
    await store(pool, [read(f"{plate}Z", f"cam-{name}-{t}") for name, plate in plates.items()])
    await drain(matcher, conn)
    alerted = {name for name in plates if await alerts_of(pool, ids[name])}
    assert alerted == {"KEEP", "NEWW"}

    await pool.execute(
        "UPDATE hotlists SET max_cost = 0.5, revision = revision + 1 WHERE hotlist_id = $1",
        hotlist,
    )
    assert await matcher.lists.refresh(conn) == 1
    reloaded = matcher.lists.lists[hotlist].entries
    assert reloaded is not copy and reloaded.entries[ids["KEEP"]].max_cost == 0.5


async def test_a_replace_import_while_reads_are_matched_never_leaves_the_list_empty(
    pool: asyncpg.Pool[Any], conn: asyncpg.Connection[Any], database_url: str, tmp_path: Path
) -> None:
    """Whole lists of 3,000 fuzzy entries replace each other (all but one plate
    new each time) while a vehicle on the list passes camera after camera:
    the matcher sees the old list or the new one, never none, so every pass
    raises its alert."""
    t = tag()
    name, keep = f"swap {t}", f"K{t}"
    made = await hotlists.create_hotlist(pool, HotlistSpec(name=name, match_mode="fuzzy"), WHO)
    files = []
    for n in range(3):
        path = tmp_path / f"swap{n}.csv"
        plates = [keep, *(f"S{n}{t}{i:04d}" for i in range(3000))]
        path.write_text("plate,reason\n" + "".join(f"{p},stolen\n" for p in plates))
        files.append(path)
    await import_file(pool, name, files[0], ImportOptions(replace=True), WHO)
    matcher = await new_matcher(conn, database_url)
    await drain(matcher, conn)

    async def replace_in_turn() -> None:
        for path in [files[1], files[2], files[0], files[1]]:
            await import_file(pool, name, path, ImportOptions(replace=True), WHO)

    swaps = asyncio.create_task(replace_in_turn())
    cameras: list[str] = []
    while not swaps.done() or not cameras:
        cameras.append(f"cam{len(cameras)}-{t}")
        await store(pool, [read(keep, cameras[-1])])
        await drain(matcher, conn)
    await swaps
    cameras.append(f"cam-after-{t}")
    await store(pool, [read(keep, cameras[-1])])
    await drain(matcher, conn)

    alerted = await pool.fetch(
        "SELECT a.camera_id FROM alerts a JOIN hotlist_entries e USING (entry_id)"
        " WHERE e.hotlist_id = $1 AND e.plate = $2",
        made.hotlist_id,
        keep,
    )
    assert len(cameras) >= 3
    assert sorted(r["camera_id"] for r in alerted) == sorted(cameras)
