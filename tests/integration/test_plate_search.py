"""Plate search against a real PostgreSQL, with reads stored by the real writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.plate_search import SearchLimits, audit_search, search_plates, similar_plates
from ingestor.writer import write_batch
from schema.errors import InvalidRequest
from schema.events import event_from_dict
from schema.plate_match import SearchFilter, SearchMode, deletions, parse_wildcard
from schema.plates import plate_skeleton
from sql import load_queries
from tests.factories import wire_event

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

# plate, camera, site, hours after T0, region
READS = [
    ("LOS7353", "cam-a", "north", 0, "US-CA"),
    ("LOS7353", "cam-b", "south", 30, "US-CA"),
    ("L0S7353", "cam-a", "north", 31, "US-CA"),  # a misread of the first
    ("LOS735", "cam-c", "south", 2, "US-CA"),  # a dropped character
    ("ABC1234", "cam-a", "north", 5, "US-FL"),
    ("A8C1234", "cam-b", "south", 6, "US-FL"),
    ("ABX1234", "cam-c", "south", 7, "US-FL"),
    ("XYZ9876", "cam-c", "south", 8, "US-TX"),
    ("7353AB", "cam-a", "north", 9, "US-TX"),
    ("AB712", "cam-b", "south", 10, "US-FL"),
    ("ABQ12XYZ", "cam-b", "south", 11, "US-FL"),
    ("KXCEFPR", "cam-c", "south", 1, "US-TX"),
]


@pytest.fixture(scope="module")
async def loaded(pool: asyncpg.Pool[Any]) -> asyncpg.Pool[Any]:
    events = [
        event_from_dict(
            wire_event(
                plate__text=plate,
                camera_id=camera,
                node__site=site,
                plate__region=region,
                captured_at=(T0 + timedelta(hours=hours)).isoformat(),
            )
        )
        for plate, camera, site, hours, region in READS
    ]
    async with pool.acquire() as conn:
        await write_batch(conn, events)
    return pool


async def _plates(db: asyncpg.Pool[Any], query: str, mode: SearchMode, **kw: Any) -> list[str]:
    page = await search_plates(db, query, mode, first=50, **kw)
    return [m.plate for m in page.matches]


async def test_exact(loaded: asyncpg.Pool[Any]) -> None:
    page = await search_plates(loaded, "los-7353", SearchMode.EXACT)
    assert [m.plate for m in page.matches] == ["LOS7353"]
    match = page.matches[0]
    assert (match.score, match.read_count) == (0.0, 2)
    assert (match.first_seen, match.last_seen) == (T0, T0 + timedelta(hours=30))
    assert match.cameras == ("cam-b", "cam-a")
    assert match.last_region == "US-CA"
    assert (await search_plates(loaded, "NOPE1", SearchMode.EXACT)).matches == []


async def test_wildcard_fragment_finds_it_anywhere(loaded: asyncpg.Pool[Any]) -> None:
    found = await _plates(loaded, "7353", SearchMode.WILDCARD)
    assert set(found) == {"LOS7353", "L0S7353", "7353AB"}
    # newest first
    assert found[0] == "L0S7353"


async def test_wildcard_patterns_match_brute_force(loaded: asyncpg.Pool[Any]) -> None:
    everything = [r["plate_normalized_text"] for r in await loaded.fetch("SELECT * FROM plates")]
    for query in ["AB?12*", "AB*", "*34", "*S73*", "A?C1234", "*7*", "?B*", "L*3"]:
        pattern = parse_wildcard(query)
        page = await search_plates(loaded, query, SearchMode.WILDCARD, first=100)
        expected = {p for p in everything if pattern.matches(p)}
        assert {m.plate for m in page.matches} == expected, query
        assert page.complete


async def test_short_wildcard_scans_a_bounded_number_of_plates(loaded: asyncpg.Pool[Any]) -> None:
    limits = SearchLimits(wildcard_scan_rows=3)
    page = await search_plates(loaded, "*7*", SearchMode.WILDCARD, first=100, limits=limits)
    assert not page.complete
    assert len(page.matches) <= 3
    # the three most recently seen plates are L0S7353, LOS7353 and ABQ12XYZ
    assert {m.plate for m in page.matches} == {"L0S7353", "LOS7353"}


async def test_fuzzy_ranks_by_cost(loaded: asyncpg.Pool[Any]) -> None:
    page = await search_plates(loaded, "ABC1Z34", SearchMode.FUZZY, first=50)
    scores = {m.plate: m.score for m in page.matches}
    # ABC1234 is one confusion away (Z/2), A8C1234 two, ABX1234 a confusion and an edit
    assert scores == {"ABC1234": 0.25, "A8C1234": 0.5, "ABX1234": 1.25}
    assert [m.plate for m in page.matches] == ["ABC1234", "A8C1234", "ABX1234"]


async def test_fuzzy_finds_dropped_characters_and_confusions(loaded: asyncpg.Pool[Any]) -> None:
    found = await _plates(loaded, "L0S7353", SearchMode.FUZZY)
    assert found[:2] == ["L0S7353", "LOS7353"]
    assert "LOS735" in found
    limited = await search_plates(
        loaded, "L0S7353", SearchMode.FUZZY, limits=SearchLimits(max_distance=0.5)
    )
    assert [m.plate for m in limited.matches] == ["L0S7353", "LOS7353"]


async def test_two_plain_edits_are_found_by_the_keys(loaded: asyncpg.Pool[Any]) -> None:
    # Two neighbouring substitutions outside any confusion class: the plate
    # side needs two deletions to meet the query, which candidate_keys spells
    # as the query with one deletion and one substitution. No trigram
    # search runs, so its threshold does not matter.
    strict = SearchLimits(trigram_threshold=0.9)
    found = await search_plates(loaded, "WYCEFPR", SearchMode.FUZZY, limits=strict)
    assert [(m.plate, m.score) for m in found.matches] == [("KXCEFPR", 2.0)]
    assert found.complete
    one_edit = SearchLimits(max_distance=1.75)
    assert (await search_plates(loaded, "WYCEFPR", SearchMode.FUZZY, limits=one_edit)).matches == []


async def test_three_plain_edits_add_trigram_candidates_and_say_so(
    loaded: asyncpg.Pool[Any],
) -> None:
    # KXCEFPR three substitutions away: the keys cannot find it, trigrams can.
    three = SearchLimits(max_distance=3.0, trigram_threshold=0.2)
    found = await search_plates(loaded, "WYQEFPR", SearchMode.FUZZY, limits=three)
    assert [(m.plate, m.score) for m in found.matches] == [("KXCEFPR", 3.0)]
    assert not found.complete


async def test_fuzzy_paging(loaded: asyncpg.Pool[Any]) -> None:
    first = await search_plates(loaded, "ABC1Z34", SearchMode.FUZZY, first=2)
    second = await search_plates(loaded, "ABC1Z34", SearchMode.FUZZY, first=2, offset=2)
    assert [m.plate for m in first.matches] == ["ABC1234", "A8C1234"] and first.has_more
    assert [m.plate for m in second.matches] == ["ABX1234"] and not second.has_more


@pytest.mark.parametrize(
    ("search_filter", "expected"),
    [
        (SearchFilter(camera_id="cam-a"), {"LOS7353", "L0S7353"}),
        (SearchFilter(site_id="south"), {"LOS7353", "LOS735"}),
        (SearchFilter(since=T0 + timedelta(hours=1)), {"LOS7353", "L0S7353", "LOS735"}),
        # LOS7353 was seen at 0 h and 30 h: first/last seen overlap [1 h, 3 h),
        # but it has no read inside, and the filter checks reads.
        (SearchFilter(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)), {"LOS735"}),
        (
            SearchFilter(camera_id="cam-b", since=T0 + timedelta(hours=29)),
            {"LOS7353"},
        ),
        (SearchFilter(camera_id="cam-a", until=T0 + timedelta(hours=1)), {"LOS7353"}),
        (SearchFilter(region="US-CA"), {"LOS7353", "L0S7353", "LOS735"}),
        (SearchFilter(region="US-TX"), set()),
    ],
)
async def test_filters(
    loaded: asyncpg.Pool[Any], search_filter: SearchFilter, expected: set[str]
) -> None:
    fuzzy = await _plates(loaded, "LOS7353", SearchMode.FUZZY, search_filter=search_filter)
    assert set(fuzzy) == expected
    wildcard = await _plates(loaded, "LOS735*", SearchMode.WILDCARD, search_filter=search_filter)
    assert set(wildcard) == {p for p in expected if p.startswith("LOS735")}


async def test_similar_excludes_the_plate_itself(loaded: asyncpg.Pool[Any]) -> None:
    similar = await similar_plates(loaded, "LOS7353")
    assert [m.plate for m in similar] == ["L0S7353", "LOS735"]
    assert [m.score for m in similar] == [0.25, 1.0]
    assert await similar_plates(loaded, "AB") == []  # too short to search, not an error


async def test_bad_requests(loaded: asyncpg.Pool[Any]) -> None:
    with pytest.raises(InvalidRequest):
        await search_plates(loaded, "*?", SearchMode.WILDCARD)
    with pytest.raises(InvalidRequest):
        await search_plates(loaded, "AB", SearchMode.FUZZY)
    with pytest.raises(InvalidRequest):
        await search_plates(loaded, "ABC", SearchMode.EXACT, first=0)
    with pytest.raises(InvalidRequest):
        await search_plates(loaded, "ABC", SearchMode.FUZZY, limits=SearchLimits(max_distance=9))


async def test_audit_record(loaded: asyncpg.Pool[Any]) -> None:
    await audit_search(loaded, "cli", {"query": "ABC", "mode": "fuzzy"}, 3, "case 17")
    row = await loaded.fetchrow("SELECT * FROM audit_log ORDER BY audit_id DESC LIMIT 1")
    assert row is not None
    assert (row["client"], row["operation"], row["result_count"], row["purpose"]) == (
        "cli",
        "plateSearch",
        3,
        "case 17",
    )
    assert json.loads(row["variables"]) == {"query": "ABC", "mode": "fuzzy"}


def test_cli_search(loaded: asyncpg.Pool[Any], database_url: str) -> None:
    env = {**os.environ, "ALPR_DATABASE_URL": database_url, "ALPR_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "alpr", "search", "ABC1Z34", "--mode", "fuzzy", "--purpose", "t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[1].split("\t")[:3] == ["ABC1234", "0.25", "1"]
    assert len(lines) == 4  # header and three matches
    bad = subprocess.run(
        [sys.executable, "-m", "alpr", "search", "*?", "--mode", "wildcard"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "letter or digit" in bad.stderr


async def test_index_keys_are_the_python_deletions(loaded: asyncpg.Pool[Any]) -> None:
    plates = ["A", "LOS7353", "B0S8", "AAAA", "X" * 20, "ABCDEFGHIJKLMNOPQRST"]
    for plate in plates:
        keys = await loaded.fetchval("SELECT alpr_plate_keys($1)", plate)
        assert set(keys) == deletions(plate_skeleton(plate), 1), plate


async def test_candidate_query_uses_the_index(loaded: asyncpg.Pool[Any]) -> None:
    text, *values = load_queries("plate_search")["fuzzy_candidates_by_keys"].bind(
        keys=["LO57353"], limit=10
    )
    async with loaded.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {text}", *values))
    assert "plates_skeleton_keys" in plan
