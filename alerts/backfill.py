"""Past hits: entries just added are searched for in the reads since `since`.

Adding entries or importing a list queues a `hotlist_backfills` row in the
same transaction. The matcher takes them one at a time between rounds and,
in one transaction per backfill, finds the reads since `since` that hit
them, records those as historical alerts (grouped per pass like live ones),
queues ONE digest delivery for the list's webhook and marks the backfill
done. A read the stream already recorded for an entry is skipped (and the
other way round), so the two never double a read.

Where the reads are found: exact entries through `plates` (most listed
plates were never read) and then `plate_events` by plate; patterns and
fuzzy entries by running the same in-memory matching as the stream over the
plates read since `since`, then the reads of the plates that hit. The scan
of those plates is what makes the fuzzy search complete (every plate within
the entry's cost, two plain edits included) at the cost of one pass over
the period's distinct plates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from alerts import metrics
from alerts.entries import Entry, EntrySet, Hit, Read
from alerts.passes import record
from core.settings import AlertSettings
from sql import load_queries

T = TypeVar("T")
PLATES_PER_QUERY = 1000


@dataclass(frozen=True)
class Backfilled:
    backfill_id: int
    hits: int
    raised: list[int]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def run_next(conn: asyncpg.Connection[Any], settings: AlertSettings) -> Backfilled | None:
    """Process the oldest pending backfill; None when there is none."""
    queries = load_queries("matcher")
    job = await conn.fetchrow(*queries["next_backfill"].bind())
    if job is None:
        return None
    async with conn.transaction():
        rows = await conn.fetch(*queries["backfill_entries"].bind(entry_ids=job["entry_ids"]))
        entries = EntrySet.build(Entry.from_row(r) for r in rows)
        hits = await find_hits(conn, entries, job["since"])
        recorded = await record(conn, hits, settings.alert_pass_window_s, historical=True)
        raised = sorted(recorded.raised)
        await conn.execute(
            *queries["enqueue_digest"].bind(
                backfill_id=job["backfill_id"],
                hotlist_id=job["hotlist_id"],
                since=job["since"],
                alert_ids=raised,
            )
        )
        await conn.execute(
            *queries["finish_backfill"].bind(backfill_id=job["backfill_id"], hits=len(raised))
        )
    metrics.HITS.labels("backfill").inc(recorded.hits)
    metrics.ALERTS_RAISED.labels("backfill").inc(len(raised))
    return Backfilled(job["backfill_id"], recorded.hits, raised)


async def find_hits(conn: asyncpg.Connection[Any], entries: EntrySet, since: datetime) -> list[Hit]:
    """Every read since `since` that hits one of `entries` (in the caller's transaction)."""
    if not len(entries):
        return []
    queries = load_queries("matcher")
    plates: set[str] = set()
    for chunk in _chunks(sorted(entries.exact), 10_000):
        rows = await conn.fetch(*queries["known_plates"].bind(plates=list(chunk), since=since))
        plates.update(r["plate_normalized_text"] for r in rows)
    if len(entries.fuzzy) or len(entries.wildcard):
        async for row in conn.cursor(
            *queries["plates_seen_since"].bind(since=since), prefetch=5000
        ):
            plate = row["plate_normalized_text"]
            if plate not in plates and entries.plate_hits(plate):
                plates.add(plate)
    hits: list[Hit] = []
    for chunk in _chunks(sorted(plates), PLATES_PER_QUERY):
        rows = await conn.fetch(*queries["reads_of_plates"].bind(plates=list(chunk), since=since))
        for row in rows:
            hits += entries.match(Read.from_row(row))
    return hits
