"""Past hits: entries just added are searched for in the reads since `since`.

Adding entries or importing a list queues a `hotlist_backfills` row in the
same transaction. The matcher's backfill task takes them one at a time, on
a connection of its own, and:

1. finds the reads since `since` that hit them, outside any transaction, in
   chunks, pausing before each chunk until the live matcher is idle (at
   most `PAUSE_MAX_S`): live rounds go first, and a search of a month of
   plates never holds a live round's transaction or its event loop long;
2. records those hits as historical alerts in short transactions of whole
   entries (a pass is an entry at a camera, so one never spans two
   transactions), each under the record lock live rounds take too, so the
   check "already recorded?" and the insert never race the stream;
3. in one last transaction queues ONE digest delivery for the list's webhook
   with every historical alert of its entries, and marks the backfill done
   (once: a backfill already done is left alone).

A crash between transactions loses nothing: the backfill is taken again,
its recorded hits are skipped (`alert_reads UNIQUE (entry_id, event_id)`,
checked under the lock) and the digest still lists them all.

Where the reads are found: exact entries through `plates` (most listed
plates were never read) and then `plate_events` by plate; patterns and
fuzzy entries by running the same in-memory matching as the stream over the
plates read since `since` (keyset pages of `plates`), then the reads of the
plates that hit. The scan of those plates is what makes the fuzzy search
complete (every plate within the entry's cost, two plain edits included) at
the cost of one pass over the period's distinct plates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import asyncpg

from alerts import metrics
from alerts.entries import Entry, EntrySet, Hit, Read
from alerts.passes import record
from core.settings import AlertSettings
from sql import load_queries

T = TypeVar("T")
PLATES_PER_QUERY: Final = 1000
PLATES_PER_SCAN: Final = 2000
ENTRY_PLATES_PER_QUERY: Final = 10_000
HITS_PER_TRANSACTION: Final = 500
# The record lock (`pg_advisory_xact_lock`): live rounds and backfill
# transactions check and write alert reads one at a time.
RECORD_LOCK: Final = 0x616C7072726563  # "alprrec"

# Awaited before each chunk of work: returns when the live matcher is idle.
Pause = Callable[[], Awaitable[None]]


async def _no_pause() -> None:
    return None


@dataclass(frozen=True)
class Backfilled:
    backfill_id: int
    hits: int
    raised: list[int]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def lock_records(conn: asyncpg.Connection[Any]) -> None:
    """Take the record lock for the rest of the caller's transaction."""
    await conn.execute(*load_queries("matcher")["lock_records"].bind(lock_key=RECORD_LOCK))


async def run_next(
    conn: asyncpg.Connection[Any], settings: AlertSettings, pause: Pause = _no_pause
) -> Backfilled | None:
    """Process the oldest pending backfill; None when there is none."""
    queries = load_queries("matcher")
    job = await conn.fetchrow(*queries["next_backfill"].bind())
    if job is None:
        return None
    rows = await conn.fetch(*queries["backfill_entries"].bind(entry_ids=job["entry_ids"]))
    entries = EntrySet.build(Entry.from_row(r) for r in rows)
    hits = await find_hits(conn, entries, job["since"], pause)
    recorded = 0
    for part in _by_whole_entries(hits, HITS_PER_TRANSACTION):
        await pause()
        async with conn.transaction():
            await lock_records(conn)
            done = await record(conn, part, settings.alert_pass_window_s, historical=True)
        recorded += done.hits
    async with conn.transaction():
        await lock_records(conn)
        raised = await _finish(conn, job)
    metrics.HITS.labels("backfill").inc(recorded)
    if raised is None:  # finished by another matcher meanwhile
        return Backfilled(job["backfill_id"], recorded, [])
    metrics.ALERTS_RAISED.labels("backfill").inc(len(raised))
    return Backfilled(job["backfill_id"], recorded, raised)


async def _finish(conn: asyncpg.Connection[Any], job: Any) -> list[int] | None:
    """Queue the digest and mark the backfill done; None when it was done."""
    queries = load_queries("matcher")
    raised = [
        r["alert_id"]
        for r in await conn.fetch(*queries["historical_alerts"].bind(entry_ids=job["entry_ids"]))
    ]
    finished = await conn.fetchval(
        *queries["finish_backfill"].bind(backfill_id=job["backfill_id"], hits=len(raised))
    )
    if finished is None:
        return None
    await conn.execute(
        *queries["enqueue_digest"].bind(
            backfill_id=job["backfill_id"],
            hotlist_id=job["hotlist_id"],
            since=job["since"],
            alert_ids=raised,
        )
    )
    return raised


def _by_whole_entries(hits: list[Hit], size: int) -> Iterator[list[Hit]]:
    """`hits` in parts of about `size`, all hits of an entry in one part."""
    by_entry: dict[int, list[Hit]] = {}
    for hit in hits:
        by_entry.setdefault(hit.entry_id, []).append(hit)
    part: list[Hit] = []
    for entry_hits in by_entry.values():
        part += entry_hits
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


async def find_hits(
    conn: asyncpg.Connection[Any],
    entries: EntrySet,
    since: datetime,
    pause: Pause = _no_pause,
) -> list[Hit]:
    """Every read since `since` that hits one of `entries`, read in chunks
    (no transaction needed), awaiting `pause` before each."""
    if not len(entries):
        return []
    queries = load_queries("matcher")
    plates: set[str] = set()
    for chunk in _chunks(sorted(entries.exact), ENTRY_PLATES_PER_QUERY):
        await pause()
        rows = await conn.fetch(*queries["known_plates"].bind(plates=list(chunk), since=since))
        plates.update(r["plate_normalized_text"] for r in rows)
    if len(entries.fuzzy) or len(entries.wildcard):
        after = ""
        while True:
            await pause()
            page = await conn.fetch(
                *queries["plates_seen_since"].bind(since=since, after=after, limit=PLATES_PER_SCAN)
            )
            for row in page:
                plate = row["plate_normalized_text"]
                if plate not in plates and entries.plate_hits(plate):
                    plates.add(plate)
            if len(page) < PLATES_PER_SCAN:
                break
            after = page[-1]["plate_normalized_text"]
    hits: list[Hit] = []
    for chunk in _chunks(sorted(plates), PLATES_PER_QUERY):
        await pause()
        rows = await conn.fetch(*queries["reads_of_plates"].bind(plates=list(chunk), since=since))
        for row in rows:
            hits += entries.match(Read.from_row(row))
    return hits
