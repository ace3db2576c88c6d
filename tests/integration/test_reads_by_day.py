"""Pages of reads walked day by day (alpr_reads): the same pages, cursors and
offsets as one keyset scan over plate_events (the statement they replaced,
kept here as the reference), by plate, camera, site or none, on either
engine; a plate's pages read only the partitions (chunks) of its days; by
id, one partition. On TimescaleDB, the same answers again once every chunk
is compressed."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.export import _export_query, export_events
from gateway.queries import (
    events_filter,
    fetch_event,
    fetch_events,
    fetch_events_by_keys,
    fetch_events_by_offset,
    filter_params,
)
from ingestor.retention import RetentionPolicy, run_retention
from ingestor.writer import Writer
from schema.events import PlateEvent, event_from_dict
from schema.filters import EventQuery
from schema.paging import Cursor, PageRequest, encode_cursor
from sql import Query, load_queries
from tests.factories import wire_event

# Days ending well before today (chunks old enough for any policy), UTC
# midnights; DAY0 starts a 30-day range of the plate-ordered copy (epoch-aligned,
# 0072_plate_copy.timescaledb.sql), which the reads fill but for day 31.
EPOCH, COPY_RANGE = datetime(1970, 1, 1, tzinfo=UTC), timedelta(days=30)
DAY0 = EPOCH + (datetime.now(UTC) - timedelta(days=70) - EPOCH) // COPY_RANGE * COPY_RANGE
BUSY, SPARSE, OTHER = "HIST001", "HIST002", "HIST003"
TIE = DAY0 + timedelta(days=3, hours=12)


def _read(plate: str, at: datetime, rng: random.Random, **changes: Any) -> PlateEvent:
    camera = rng.choice(["hist-a", "hist-b", "hist-c"])
    values: dict[str, Any] = {
        "captured_at": at.isoformat(),
        "camera_id": camera,
        "plate__text": plate,
        "plate__normalized_text": plate,
        "plate__confidence": rng.choice([0.55, 0.75, 0.95]),
        "vehicle__type": rng.choice(["car", "truck"]),
        "vehicle__make": rng.choice(["Ford", "VW"]),
        "vehicle__color": rng.choice(["red", "Blue"]),
        "node__site": "site-1" if camera == "hist-a" else "site-2",
        "extras__direction": rng.choice(["inbound", "outbound"]),
        **changes,
    }
    return event_from_dict(wire_event(**values))


def _reads() -> list[PlateEvent]:
    """BUSY: several reads on each of 8 days, some at day edges, five at one
    instant; SPARSE: one read on each of 3 far-apart days; OTHER on the same
    days; BUSY and OTHER twice on a day of the next 30-day range."""
    rng = random.Random(15)
    reads = []
    for day in range(8):
        start = DAY0 + timedelta(days=day * 2)
        times = [start, start + timedelta(days=1, microseconds=-1)]
        times += [start + timedelta(seconds=rng.randrange(86400)) for _ in range(4)]
        reads += [_read(BUSY, at, rng) for at in times]
        reads += [_read(OTHER, at, rng) for at in times[:3]]
    reads += [_read(BUSY, TIE, rng) for _ in range(5)]
    reads += [_read(SPARSE, DAY0 + timedelta(days=d, hours=5), rng) for d in (0, 9, 17)]
    # The next range: a day of it, so that the first range ends in the past
    # of the compressed days.
    reads += [
        _read(p, DAY0 + timedelta(days=31, hours=h), rng) for p in (BUSY, OTHER) for h in (2, 9)
    ]
    return reads


@pytest.fixture(scope="module")
async def history(pool: asyncpg.Pool[Any]) -> AsyncIterator[list[PlateEvent]]:
    reads = _reads()
    async with pool.acquire() as conn:
        result = await Writer().write(conn, reads)
    assert result.stored == len(reads)
    yield reads


def _reference(backward: bool) -> Query:
    """One keyset scan of plate_events with the events filter: what the
    events pages were before they walked days."""
    past, order, edge_at, edge_id = (
        (">", "ASC", "'-infinity'", "'00000000-0000-0000-0000-000000000000'")
        if backward
        else ("<", "DESC", "'infinity'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'")
    )
    return Query.parse(
        f"""SELECT * FROM plate_events
        WHERE {events_filter()}
          AND captured_at {past}= COALESCE(:cursor_at::timestamptz, {edge_at})
          AND (captured_at, event_id) {past} (
              COALESCE(:cursor_at::timestamptz, {edge_at}),
              COALESCE(:cursor_id::uuid, {edge_id}))
        ORDER BY captured_at {order}, event_id {order}
        LIMIT :limit"""
    )


async def _reference_page(
    pool: asyncpg.Pool[Any], query: EventQuery, page: PageRequest
) -> tuple[list[asyncpg.Record], bool]:
    cursor = page.cursor
    params = {
        "plate": query.plate,
        "camera_id": query.camera_id,
        "site_id": query.site_id,
        "since": query.since,
        "until": query.until,
        "direction": query.direction,
        "vehicle_make": query.vehicle_make,
        "vehicle_color": query.vehicle_color,
        "vehicle_type": query.vehicle_type,
        "min_confidence": query.min_confidence,
        "cursor_at": cursor.captured_at if cursor else None,
        "cursor_id": cursor.event_id if cursor else None,
        "limit": page.limit + 1,
    }
    rows = await pool.fetch(*_reference(page.backward).bind(**params))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if page.backward:
        rows.reverse()
    return rows, more


QUERIES = [
    EventQuery(plate=BUSY),
    EventQuery(plate=SPARSE),
    EventQuery(plate="NEVERSEEN"),
    # A window starting and ending inside days, and one on day edges.
    EventQuery(plate=BUSY, since=DAY0 + timedelta(days=2, hours=6), until=TIE),
    EventQuery(plate=BUSY, since=DAY0 + timedelta(days=2), until=DAY0 + timedelta(days=7)),
    EventQuery(plate=BUSY, until=TIE + timedelta(microseconds=1)),
    EventQuery(plate=BUSY, camera_id="hist-a"),
    EventQuery(plate=BUSY, site_id="site-2", direction="inbound"),
    EventQuery(plate=BUSY, vehicle_make="ford", vehicle_color="blue", vehicle_type="truck"),
    EventQuery(plate=BUSY, min_confidence=0.7),
    EventQuery(plate=SPARSE, since=DAY0 + timedelta(days=1)),
    # Pages without a plate walk a camera's days, or every day.
    EventQuery(camera_id="hist-a"),
    EventQuery(camera_id="hist-c", since=DAY0 + timedelta(days=4, hours=1), vehicle_type="car"),
    # A camera's day (a window of at most a day: on plain PostgreSQL one
    # keyset statement instead of the walk), on day edges and across two days.
    EventQuery(camera_id="hist-a", since=DAY0 + timedelta(days=2), until=DAY0 + timedelta(days=3)),
    EventQuery(
        camera_id="hist-b", since=TIE - timedelta(hours=12), until=TIE + timedelta(hours=12)
    ),
    EventQuery(
        plate=BUSY,
        camera_id="hist-c",
        since=DAY0 + timedelta(days=6, hours=3),
        until=DAY0 + timedelta(days=7, hours=3),
        direction="outbound",
    ),
    EventQuery(site_id="site-1"),
    EventQuery(site_id="site-2", until=TIE, min_confidence=0.9),
    EventQuery(),
    EventQuery(vehicle_color="RED", direction="outbound"),
]


def _key(row: asyncpg.Record) -> tuple[datetime, uuid.UUID]:
    return row["captured_at"], row["event_id"]


async def _walk(pool: asyncpg.Pool[Any], query: EventQuery, size: int, backward: bool) -> Any:
    """Every page of `query`, by cursor from one end to the other, both ways
    answered the same by the day walk and the reference: each page's rows (every
    column), in order."""
    pages = []
    cursor: str | None = None
    for _ in range(100):
        args = {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        page = PageRequest.from_args(**args)
        ours, more = await fetch_events(pool, query, page)
        reference, reference_more = await _reference_page(pool, query, page)
        assert [dict(r) for r in ours] == [dict(r) for r in reference], (query, size, cursor)
        assert more == reference_more
        pages.append([dict(r) for r in ours])
        if not more:
            break
        edge = ours[0] if backward else ours[-1]
        cursor = encode_cursor(edge["captured_at"], edge["event_id"])
    return pages


async def _all_answers(pool: asyncpg.Pool[Any]) -> list[Any]:
    answers = []
    for query in QUERIES:
        for size in (1, 2, 3, 7, 50):
            for backward in (False, True):
                answers.append(await _walk(pool, query, size, backward))
    return answers


async def test_pages_by_plate_equal_one_keyset_scan_both_ways(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    answers = await _all_answers(pool)
    busy = [e for e in history if e.plate_normalized_text == BUSY]
    newest_first = sorted(((e.captured_at, e.event_id) for e in busy), reverse=True)
    # The first query walked whole, a read a page: every read once, in order.
    assert [_key(row) for page in answers[0] for row in page] == newest_first
    assert [_key(row) for page in answers[1] for row in page] == newest_first[::-1]


async def test_a_page_from_a_cursor_in_a_tie_continues_inside_the_tie(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    tied = sorted(e.event_id for e in history if e.captured_at == TIE)
    cursor = Cursor(TIE, tied[2])
    page = PageRequest(limit=2, cursor=cursor)
    rows, _ = await fetch_events(pool, EventQuery(plate=BUSY), page)
    assert [r["event_id"] for r in rows] == tied[1::-1]
    page = PageRequest(limit=2, backward=True, cursor=cursor)
    rows, _ = await fetch_events(pool, EventQuery(plate=BUSY), page)
    assert [r["event_id"] for r in rows] == tied[4:2:-1]


async def test_offset_pages_equal_the_offset_scan(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    reference = await pool.fetch(
        "SELECT * FROM plate_events WHERE plate_normalized_text = $1 "
        "ORDER BY captured_at DESC, event_id DESC",
        BUSY,
    )
    for limit, offset in ((5, 0), (5, 3), (4, 20), (10, 50), (3, 52)):
        rows = await fetch_events_by_offset(pool, BUSY, limit, offset)
        assert [dict(r) for r in rows] == [dict(r) for r in reference[offset : offset + limit]]


# The chunks of a hypertable and, for a compressed one, its columnstore
# companion, which is what a read of a compressed chunk scans (TimescaleDB).
COMPANIONS = """
    SELECT s.relid FROM _timescaledb_catalog.chunk AS c
    JOIN _timescaledb_catalog.chunk AS z ON z.id = c.compressed_chunk_id
    JOIN pg_stat_user_tables AS s ON s.schemaname = z.schema_name AND s.relname = z.table_name
    WHERE format('%I.%I', c.schema_name, c.table_name)::regclass IN (SELECT inhrelid
                      FROM pg_inherits WHERE inhparent = '{table}'::regclass)
"""


async def _scanned_partitions(
    pool: asyncpg.Pool[Any], run: Any, table: str = "plate_events", companions: bool = False
) -> set[str]:
    """The partitions (chunks) of `table` that `run(conn)` scanned, or with
    `companions` the columnstore companions of its compressed chunks."""
    scanned = (
        COMPANIONS.format(table=table)
        if companions
        else f"""
        SELECT inhrelid FROM pg_inherits WHERE inhparent = '{table}'::regclass"""
    )
    counts = f"""
        SELECT s.relname, s.seq_scan + COALESCE(s.idx_scan, 0) AS scans
        FROM pg_stat_user_tables AS s
        WHERE s.relid IN ({scanned})
    """
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        before = {r["relname"]: r["scans"] for r in await conn.fetch(counts)}
        await run(conn)
        await conn.execute("SELECT pg_stat_force_next_flush()")
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        after = {r["relname"]: r["scans"] for r in await conn.fetch(counts)}
    return {name for name, scans in after.items() if scans != before.get(name, 0)}


async def _partitions_of(pool: asyncpg.Pool[Any], plate: str) -> set[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT tableoid::regclass::text AS part FROM plate_events "
        "WHERE plate_normalized_text = $1",
        plate,
    )
    return {r["part"].rsplit(".", 1)[-1] for r in rows}


async def test_a_plates_pages_scan_only_its_days_partitions(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    async def whole_history(conn: asyncpg.Connection[Any]) -> None:
        rows, _ = await fetch_events(conn, EventQuery(plate=SPARSE), PageRequest(limit=10))
        assert len(rows) == 3

    scanned = await _scanned_partitions(pool, whole_history)
    assert scanned == await _partitions_of(pool, SPARSE)
    assert len(scanned) == 3


async def test_a_read_by_id_scans_one_partition(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    read = history[len(history) // 2]

    async def by_id(conn: asyncpg.Connection[Any]) -> None:
        row = await fetch_event(conn, read.event_id)
        assert row is not None and row["captured_at"] == read.captured_at

    scanned = await _scanned_partitions(pool, by_id)
    assert len(scanned) == 1


async def test_a_batch_by_keys_scans_only_its_days_partitions(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    # The live feed's fetch of an announced batch: here reads of two days,
    # given out of order, and one key whose time is not its read's.
    days = sorted({e.captured_at.date() for e in history})
    batch = [e for e in history if e.captured_at.date() in (days[3], days[9])][::5]
    random.Random(7).shuffle(batch)
    ids = [e.event_id for e in batch] + [batch[0].event_id]
    ats = [e.captured_at for e in batch] + [batch[0].captured_at + timedelta(seconds=1)]

    async def by_keys(conn: asyncpg.Connection[Any]) -> None:
        rows = await fetch_events_by_keys(conn, ids, ats)
        expected = sorted(batch, key=lambda e: (e.captured_at, e.event_id))
        assert [r["event_id"] for r in rows] == [e.event_id for e in expected]

    scanned = await _scanned_partitions(pool, by_keys)
    parts = await pool.fetch(
        "SELECT DISTINCT tableoid::regclass::text AS part FROM plate_events"
        " WHERE event_id = ANY($1)",
        ids,
    )
    assert scanned == {r["part"].rsplit(".", 1)[-1] for r in parts}
    assert len(scanned) == 2


async def test_the_matcher_and_a_repeated_batch_scan_only_their_days_partitions(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    # The alert matcher reads a stored batch by its keys; the writer reads
    # the stored twins of a batch sent again, to tell repeats from conflicts.
    # Joined with the keys, the matcher's read scanned every partition on
    # both engines, the writer's every chunk on TimescaleDB.
    days = sorted({e.captured_at.date() for e in history})
    batch = [e for e in history if e.captured_at.date() in (days[1], days[-3])][::4]
    parts = await pool.fetch(
        "SELECT DISTINCT tableoid::regclass::text AS part FROM plate_events"
        " WHERE event_id = ANY($1)",
        [e.event_id for e in batch],
    )
    expected = {r["part"].rsplit(".", 1)[-1] for r in parts}
    assert len(expected) == 2

    async def match(conn: asyncpg.Connection[Any]) -> None:
        rows = await conn.fetch(
            *load_queries("matcher")["reads_with_exact_hits"].bind(
                event_ids=[e.event_id for e in batch], captured_ats=[e.captured_at for e in batch]
            )
        )
        assert {r["event_id"] for r in rows} == {e.event_id for e in batch}

    async def send_again(conn: asyncpg.Connection[Any]) -> None:
        changed = batch[0].model_copy(update={"plate_confidence": 0.01})
        result = await Writer().write(conn, [changed, *batch[1:]])
        assert result.duplicates == len(batch) - 1
        assert [r.event.event_id for r in result.rejected] == [changed.event_id]

    assert await _scanned_partitions(pool, match) == expected
    assert await _scanned_partitions(pool, send_again) == expected


@pytest.mark.parametrize("query", QUERIES[:5] + QUERIES[6:8], ids=range(7))
async def test_a_plates_export_equals_the_filtered_scan(
    pool: asyncpg.Pool[Any], history: list[PlateEvent], query: EventQuery
) -> None:
    out = io.StringIO()
    async with pool.acquire() as conn:
        count = await export_events(conn, query, out, fmt="ndjson")
    exported = [orjson.loads(line) for line in out.getvalue().splitlines()]
    scanned = await pool.fetch(*_export_query().bind(**filter_params(query)))
    assert count == len(scanned)
    assert exported == [orjson.loads(orjson.dumps(dict(r), default=str)) for r in scanned]


async def test_the_newest_reads_scan_only_the_newest_days_partitions(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    """A page of one reads two (to know if more follow): only their days are read."""
    order = sorted(history, key=lambda e: (e.captured_at, e.event_id), reverse=True)
    newest = order[:2]
    on_camera = [e for e in order if e.camera_id == "hist-b"][:2]

    async def newest_pages(conn: asyncpg.Connection[Any]) -> None:
        rows, _ = await fetch_events(conn, EventQuery(), PageRequest(limit=1))
        assert rows[0]["event_id"] == newest[0].event_id
        rows, _ = await fetch_events(conn, EventQuery(camera_id="hist-b"), PageRequest(limit=1))
        assert rows[0]["event_id"] == on_camera[0].event_id

    scanned = await _scanned_partitions(pool, newest_pages)
    assert len(scanned) == len({e.captured_at.date() for e in newest + on_camera})


async def _offset_pages(pool: asyncpg.Pool[Any]) -> list[list[dict[str, Any]]]:
    """BUSY's reads by offset paging (the REST plate pages), pages of 4."""
    return [
        [dict(r) for r in await fetch_events_by_offset(pool, BUSY, 4, offset)]
        for offset in range(0, 60, 4)
    ]


# Last: it compresses every chunk of the module's database.
async def test_compressed_chunks_answer_the_same(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    """On TimescaleDB: every chunk compressed, the same pages (every column of
    every row, each query walked both ways at every page size), ids and
    camera pages."""
    if await pool.fetchval("SELECT engine FROM alpr_engine") != "timescaledb":
        pytest.skip("plain PostgreSQL has no compressed chunks")
    before = await _all_answers(pool)
    by_id = [dict(await fetch_event(pool, e.event_id) or {}) for e in history]
    camera = EventQuery(camera_id="hist-b")
    camera_page, _ = await fetch_events(pool, camera, PageRequest(limit=30))
    by_offset = await _offset_pages(pool)
    await pool.execute(
        "SELECT count(compress_chunk(c, if_not_compressed => true)) "
        "FROM show_chunks('plate_events') AS c"
    )
    assert not await pool.fetchval(
        "SELECT count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'plate_events' AND NOT is_compressed"
    )
    assert await _all_answers(pool) == before
    assert [dict(await fetch_event(pool, e.event_id) or {}) for e in history] == by_id
    assert await _offset_pages(pool) == by_offset
    assert [dict(r) for r in (await fetch_events(pool, camera, PageRequest(limit=30)))[0]] == [
        dict(r) for r in camera_page
    ]


async def _fill_copy(pool: asyncpg.Pool[Any]) -> list[int]:
    """Fill the plate-ordered copy as the ingestor does, a range a call, until
    none is ready; the reads each call copied."""
    copied = []
    while (reads := await pool.fetchval("SELECT alpr_fill_plate_copy()")) is not None:
        copied.append(reads)
    return copied


async def _copy_ranges(pool: asyncpg.Pool[Any]) -> list[tuple[datetime, bool]]:
    rows = await pool.fetch(
        "SELECT range_start, released_at IS NOT NULL AS released FROM plate_copy_ranges "
        "ORDER BY range_start"
    )
    return [(r["range_start"], r["released"]) for r in rows]


# After the columnstore test: every chunk is compressed.
async def test_the_plate_ordered_copy_answers_the_same(
    pool: asyncpg.Pool[Any], history: list[PlateEvent]
) -> None:
    """On TimescaleDB: the first 30-day range, wholly compressed, is copied
    (the second, still open, is not); plate walks read it from the copy with
    the same pages, both ways, at every size; a late read for it is stored in
    both; retention releases it before deleting from it, and it is never
    copied again."""
    if await pool.fetchval("SELECT engine FROM alpr_engine") != "timescaledb":
        pytest.skip("plain PostgreSQL keeps no plate-ordered copy")
    before = await _all_answers(pool)
    by_offset = await _offset_pages(pool)
    in_range = [e for e in history if e.captured_at < DAY0 + COPY_RANGE]

    async def sparse_history(conn: asyncpg.Connection[Any]) -> None:
        rows, _ = await fetch_events(conn, EventQuery(plate=SPARSE), PageRequest(limit=10))
        assert len(rows) == 3

    # Before the copy, SPARSE's three compressed days; after, one chunk of the copy.
    assert len(await _scanned_partitions(pool, sparse_history, companions=True)) == 3
    assert await _fill_copy(pool) == [len(in_range)]
    assert await _copy_ranges(pool) == [(DAY0, False)]
    assert await _all_answers(pool) == before  # each page also equals the reference scan
    assert await _offset_pages(pool) == by_offset
    assert await _scanned_partitions(pool, sparse_history, companions=True) == set()
    copy_scans = await _scanned_partitions(pool, sparse_history, "plate_copy", companions=True)
    assert len(copy_scans) == 1

    # Late reads for the copied range: one of a plate seen there, one of a new plate.
    rng = random.Random(72)
    late = [
        _read(BUSY, DAY0 + timedelta(days=5, hours=1), rng),
        _read("HIST004", DAY0 + timedelta(days=20), rng),
    ]
    async with pool.acquire() as conn:
        assert (await Writer().write(conn, late)).stored == 2
    assert await pool.fetchval("SELECT count(*) FROM plate_copy") == len(in_range) + 2
    after_late = await _all_answers(pool)
    assert after_late != before
    rows, _ = await fetch_events(pool, EventQuery(plate="HIST004"), PageRequest(limit=5))
    assert [r["event_id"] for r in rows] == [late[1].event_id]

    # Retention past day 2 releases the range: its copy goes, in the same
    # transactions as the reads; the walk reads plate_events again.
    async with pool.acquire() as conn:
        policy = RetentionPolicy(default_days=1)
        report = await run_retention(conn, policy, now=DAY0 + timedelta(days=3.5))
    assert report.deleted_rows > 0
    assert await _copy_ranges(pool) == [(DAY0, True)]
    assert not await pool.fetchval("SELECT count(*) FROM show_chunks('plate_copy')")
    await _all_answers(pool)  # each page equals the reference scan
    assert await _fill_copy(pool) == []
    assert await _copy_ranges(pool) == [(DAY0, True)]
