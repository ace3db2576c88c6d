"""The patterns and fuzzy entries of every live list, held in memory.

Exact entries stay in the database (one indexed lookup per batch finds
them), so a million of them cost the matcher nothing to hold. Patterns and
fuzzy entries cannot be looked up by equality, so each list's are loaded
into an `EntrySet`. Before each round the matcher compares the lists'
revisions (every change bumps one, `NOTIFY alpr_hotlists` says when). For a
list whose revision moved it reads, in one statement, only the entries
changed since its copy (`hotlist_entries.changed_xid` at or above the
horizon of the copy's last read) and applies them: removed entries and
entries no longer matched in memory leave the copy, new and edited ones
replace theirs. A change of the list's own settings (mode, cost, priority,
scope), which every entry inherits, reloads the list whole. Either way a
round sees the list before or after a change, never part of one: the
statement reads one snapshot and the copy changes with no await between.

An expired entry stays in the copy and stops matching by itself
(`Entry.in_force` is checked against each read's capture time).
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
class HeldList:
    """One list's copy: the revision and horizon it was read at, the list's
    settings its entries inherit, and the entries."""

    revision: int
    horizon: int
    settings: tuple[Any, ...]
    entries: EntrySet


def _settings(row: Any) -> tuple[Any, ...]:
    return (
        row["priority"],
        row["list_mode"],
        float(row["list_max_cost"]),
        tuple(sorted(row["site_ids"])),
        tuple(sorted(row["camera_ids"])),
    )


def _in_memory(row: Any) -> bool:
    """Whether a current entry is matched in memory (a pattern or fuzzy)."""
    return not row["removed"] and (
        "*" in row["plate"] or "?" in row["plate"] or row["mode"] == "fuzzy"
    )


@dataclass
class MemoryLists:
    """Every live list's in-memory entries, by list id."""

    lists: dict[int, HeldList] = field(default_factory=dict)

    @translated
    async def refresh(self, conn: asyncpg.Connection[Any]) -> int:
        """Bring the lists whose revision changed up to date, drop deleted
        ones; returns how many were updated or reloaded."""
        revisions = {
            r["hotlist_id"]: r["revision"]
            for r in await conn.fetch(*load_queries("matcher")["list_revisions"].bind())
        }
        for gone in self.lists.keys() - revisions.keys():
            del self.lists[gone]
        changed = 0
        for hotlist_id, revision in revisions.items():
            held = self.lists.get(hotlist_id)
            if held is not None and held.revision == revision:
                continue
            if held is None or not await self._update(conn, hotlist_id, held):
                await self._load(conn, hotlist_id)
            changed += 1
        metrics.MEMORY_ENTRIES.set(sum(len(held.entries) for held in self.lists.values()))
        return changed

    async def _load(self, conn: asyncpg.Connection[Any], hotlist_id: int) -> None:
        rows = await conn.fetch(
            *load_queries("matcher")["memory_entries"].bind(hotlist_id=hotlist_id)
        )
        if not rows:  # deleted since the revisions were read
            self.lists.pop(hotlist_id, None)
            return
        entries = EntrySet.build(Entry.from_row(r) for r in rows if r["entry_id"] is not None)
        first = rows[0]
        self.lists[hotlist_id] = HeldList(
            first["revision"], int(first["horizon"]), _settings(first), entries
        )

    async def _update(self, conn: asyncpg.Connection[Any], hotlist_id: int, held: HeldList) -> bool:
        """Apply the entries changed since `held` was read; False when the
        list's settings changed (or it is gone) and it must be read whole."""
        rows = await conn.fetch(
            *load_queries("matcher")["memory_entry_changes"].bind(
                hotlist_id=hotlist_id, horizon=str(held.horizon)
            )
        )
        if not rows or _settings(rows[0]) != held.settings:
            return False
        for row in rows:
            if row["entry_id"] is None:
                continue
            if _in_memory(row):
                held.entries.add(Entry.from_row(row))
            else:
                held.entries.discard(row["entry_id"])
        held.revision = rows[0]["revision"]
        held.horizon = int(rows[0]["horizon"])
        return True

    def match(self, read: Read) -> list[Hit]:
        hits: list[Hit] = []
        for held in self.lists.values():
            if held.entries:
                hits += held.entries.match(read)
        return hits
