"""Hotlist entries as the matcher holds them, and what a hit of one is.

`EntrySet` matches one read against a set of entries of every mode: exact
(plate equality), wildcard patterns and fuzzy entries (the OCR cost model of
plate search, through the in-memory indexes). The stream keeps one set per
list holding its patterns and fuzzy entries (exact entries are looked up in
SQL per batch, so they are always current) and changes it entry by entry
as the list changes; a search of past hits builds one from the entries it
was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from schema.fuzzy import Edit, FuzzyIndex, WildcardIndex

WILDCARD_CHARS = frozenset("*?")


@dataclass(frozen=True)
class Scope:
    """Where a list applies: everywhere when both sets are empty."""

    site_ids: frozenset[str] = frozenset()
    camera_ids: frozenset[str] = frozenset()

    def holds(self, site_id: str | None, camera_id: str) -> bool:
        if not self.site_ids and not self.camera_ids:
            return True
        return camera_id in self.camera_ids or (site_id is not None and site_id in self.site_ids)


@dataclass(frozen=True)
class Entry:
    """One entry with its list's defaults applied (mode, cost, priority, scope)."""

    entry_id: int
    hotlist_id: int
    priority: int
    plate: str
    region: str | None
    mode: str
    max_cost: float
    valid_from: datetime
    valid_until: datetime | None
    added_at: datetime
    scope: Scope = Scope()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Entry:
        return cls(
            row["entry_id"],
            row["hotlist_id"],
            row["priority"],
            row["plate"],
            row["region"],
            row["mode"],
            float(row["max_cost"]),
            row["valid_from"],
            row["valid_until"],
            row["added_at"],
            Scope(frozenset(row["site_ids"]), frozenset(row["camera_ids"])),
        )

    @property
    def is_pattern(self) -> bool:
        return not WILDCARD_CHARS.isdisjoint(self.plate)

    def in_force(self, captured_at: datetime) -> bool:
        """Whether a read captured then hits: not expired at the capture, and in
        force (an entry counts from when it was added, unless it starts later)."""
        if self.valid_until is not None and captured_at >= self.valid_until:
            return False
        return self.valid_from <= max(captured_at, self.added_at)


@dataclass(frozen=True)
class Read:
    """What matching needs of a stored read. `stored_at` is the epoch time of
    its batch's commit (for latency), 0 when unknown."""

    event_id: UUID
    captured_at: datetime
    camera_id: str
    site_id: str | None
    plate: str
    region: str | None
    confidence: float
    stored_at: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any], stored_at: float = 0.0) -> Read:
        return cls(
            row["event_id"],
            row["captured_at"],
            row["camera_id"],
            row["site_id"],
            row["plate"],
            row["region"],
            float(row["confidence"]),
            stored_at,
        )


@dataclass(frozen=True)
class Hit:
    """A read that hit an entry: at what cost, by which edits, and whether
    the read's region disagrees with the entry's (flagged, never hidden)."""

    entry_id: int
    hotlist_id: int
    priority: int
    read: Read
    cost: float = 0.0
    edits: tuple[dict[str, Any], ...] = ()
    region_mismatch: bool = False


def region_mismatch(entry_region: str | None, read_region: str | None) -> bool:
    """True when both regions are known and differ. `FL` and `US-FL` agree: a
    state's extract names the state, a camera may name the country too."""
    if not entry_region or not read_region:
        return False
    a, b = entry_region.strip().upper(), read_region.strip().upper()
    return not (a == b or a.endswith(f"-{b}") or b.endswith(f"-{a}"))


def edit_json(edit: Edit) -> dict[str, Any]:
    return {
        "position": edit.position,
        "expected": edit.expected,
        "read": edit.read,
        "kind": edit.kind.value,
        "cost": edit.cost,
    }


def hit(entry: Entry, read: Read, cost: float = 0.0, edits: Sequence[Edit] = ()) -> Hit:
    return Hit(
        entry.entry_id,
        entry.hotlist_id,
        entry.priority,
        read,
        cost,
        tuple(edit_json(e) for e in edits),
        region_mismatch(entry.region, read.region),
    )


@dataclass
class EntrySet:
    """Entries of any mode, indexed for matching one read at a time; `add`
    and `discard` change it in place (no await between a change's steps, so
    a round never sees half of one)."""

    entries: dict[int, Entry] = field(default_factory=dict)
    exact: dict[str, list[int]] = field(default_factory=dict)
    fuzzy: FuzzyIndex[int] = field(default_factory=FuzzyIndex)
    wildcard: WildcardIndex[int] = field(default_factory=WildcardIndex)

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> EntrySet:
        built = cls()
        for entry in entries:
            built.add(entry)
        return built

    def add(self, entry: Entry) -> None:
        """File `entry`, replacing the entry of the same id."""
        self.discard(entry.entry_id)
        self.entries[entry.entry_id] = entry
        if entry.is_pattern:
            self.wildcard.add(entry.entry_id, entry.plate)
        elif entry.mode == "fuzzy":
            self.fuzzy.add(entry.entry_id, entry.plate, entry.max_cost)
        else:
            self.exact.setdefault(entry.plate, []).append(entry.entry_id)

    def discard(self, entry_id: int) -> None:
        """Forget the entry of `entry_id`; nothing happens when there is none."""
        entry = self.entries.pop(entry_id, None)
        if entry is None:
            return
        self.wildcard.remove(entry_id)
        self.fuzzy.remove(entry_id)
        ids = self.exact.get(entry.plate)
        if ids is not None and entry_id in ids:
            ids.remove(entry_id)
            if not ids:
                del self.exact[entry.plate]

    def __len__(self) -> int:
        return len(self.entries)

    def plate_hits(self, plate: str) -> list[tuple[Entry, float, Sequence[Edit]]]:
        """The entries `plate` hits by text alone (before scope and validity)."""
        found: list[tuple[Entry, float, Sequence[Edit]]] = [
            (self.entries[i], 0.0, ()) for i in self.exact.get(plate, ())
        ]
        found += [(self.entries[i], 0.0, ()) for i in self.wildcard.lookup(plate)]
        found += [(self.entries[h.entry], h.cost, h.edits) for h in self.fuzzy.lookup(plate)]
        return found

    def match(self, read: Read) -> list[Hit]:
        """The entries `read` hits: by text, in scope, in force at its capture."""
        return [
            hit(entry, read, cost, edits)
            for entry, cost, edits in self.plate_hits(read.plate)
            if entry.scope.holds(read.site_id, read.camera_id) and entry.in_force(read.captured_at)
        ]
