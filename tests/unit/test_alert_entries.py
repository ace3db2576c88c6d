"""What makes a read hit an entry: scope, validity, regions, modes (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from alerts.entries import Entry, EntrySet, Read, Scope, region_mismatch

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def entry(plate: str, mode: str = "exact", **changes: object) -> Entry:
    values: dict[str, object] = {
        "entry_id": 1,
        "hotlist_id": 1,
        "priority": 50,
        "plate": plate,
        "region": None,
        "mode": mode,
        "max_cost": 1.0,
        "valid_from": NOW,
        "valid_until": None,
        "added_at": NOW,
        "scope": Scope(),
    }
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


def read(plate: str, at: datetime = NOW, camera: str = "c1", site: str | None = "DC1") -> Read:
    return Read(uuid.uuid4(), at, camera, site, plate, None, 0.9)


def test_scope_is_everywhere_when_empty_else_named_sites_or_cameras() -> None:
    assert Scope().holds("DC1", "c1")
    assert Scope(frozenset({"DC2"})).holds("DC2", "c1")
    assert not Scope(frozenset({"DC2"})).holds("DC1", "c1")
    assert Scope(camera_ids=frozenset({"c1"})).holds(None, "c1")


def test_an_entry_counts_from_when_it_was_added_and_stops_at_its_expiry() -> None:
    e = entry("ABC123", valid_until=NOW + timedelta(days=1))
    assert e.in_force(NOW - timedelta(seconds=5))  # captured just before it was added
    assert not e.in_force(NOW + timedelta(days=1))
    later = entry("ABC123", valid_from=NOW + timedelta(days=2))
    assert not later.in_force(NOW + timedelta(days=1))
    assert later.in_force(NOW + timedelta(days=3))


def test_regions_disagree_only_when_both_are_known_and_differ() -> None:
    assert not region_mismatch("FL", "US-FL")
    assert not region_mismatch(None, "US-FL")
    assert not region_mismatch("fl", "FL")
    assert region_mismatch("TX", "US-FL")


def test_a_set_matches_each_mode_and_a_pattern_whatever_the_mode() -> None:
    entries = EntrySet.build(
        [
            entry("ABC123", entry_id=1),
            entry("B0B777", "fuzzy", entry_id=2, max_cost=0.25),
            entry("XY?1*", "exact", entry_id=3),  # holds `*`: a pattern
        ]
    )
    assert [h.entry_id for h in entries.match(read("ABC123"))] == [1]
    assert [h.cost for h in entries.match(read("BOB777"))] == [0.25]
    assert entries.match(read("BOB77")) == []  # a deletion costs 1 > 0.25
    assert [h.entry_id for h in entries.match(read("XYZ199"))] == [3]
    assert entries.match(read("XY199")) == []
    out_of_scope = EntrySet.build([entry("ABC123", scope=Scope(frozenset({"DC9"})))])
    assert out_of_scope.match(read("ABC123")) == []
