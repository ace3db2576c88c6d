"""The patterns and fuzzy entries of every live list, held in memory.

Exact entries stay in the database (one indexed lookup per batch finds
them), so a million of them cost the matcher nothing to hold. Patterns and
fuzzy entries cannot be looked up by equality, so each list's are loaded
into an `EntrySet`. Before each round the matcher compares the lists'
revisions (every change bumps one, `NOTIFY alpr_hotlists` says when) and
reloads a changed list in one statement, replacing its set whole: a round
matches against the old list or the new one, never part of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from alerts import metrics
from alerts.entries import Entry, EntrySet, Hit, Read
from core.db import translated
from sql import load_queries


@dataclass
class MemoryLists:
    """Every live list's in-memory entries, by list id, with the revision loaded."""

    lists: dict[int, tuple[int, EntrySet]] = field(default_factory=dict)

    @translated
    async def refresh(self, conn: asyncpg.Connection[Any]) -> int:
        """Reload the lists whose revision changed, drop deleted ones; returns
        how many were (re)loaded."""
        queries = load_queries("matcher")
        revisions = {
            r["hotlist_id"]: r["revision"]
            for r in await conn.fetch(*queries["list_revisions"].bind())
        }
        for gone in self.lists.keys() - revisions.keys():
            del self.lists[gone]
        loaded = 0
        for hotlist_id, revision in revisions.items():
            held = self.lists.get(hotlist_id)
            if held is not None and held[0] == revision:
                continue
            rows = await conn.fetch(*queries["memory_entries"].bind(hotlist_id=hotlist_id))
            if not rows:  # deleted since the revisions were read
                self.lists.pop(hotlist_id, None)
                continue
            entries = [Entry.from_row(r) for r in rows if r["entry_id"] is not None]
            self.lists[hotlist_id] = (rows[0]["revision"], EntrySet.build(entries))
            loaded += 1
        metrics.MEMORY_ENTRIES.set(sum(len(s) for _, s in self.lists.values()))
        return loaded

    def match(self, read: Read) -> list[Hit]:
        hits: list[Hit] = []
        for _, entries in self.lists.values():
            if entries:
                hits += entries.match(read)
        return hits
