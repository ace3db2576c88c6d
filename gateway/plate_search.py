"""Plate search against the database: exact, wildcard and OCR-tolerant fuzzy.

The logic (parsing, distance, ranking) is `schema.plate_match`; this module runs
the named queries of `sql/queries/plate_search.sql` and turns rows into ranked
`PlateMatch`es. Every function takes a pool or connection and returns data;
auditing is the caller's job (the GraphQL/REST layer, or `alpr search`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from core.db import translated
from schema.errors import InvalidRequest
from schema.plate_match import (
    DEFAULT_MAX_DISTANCE,
    EDIT_COST,
    KEYS_COMPLETE_UP_TO,
    MIN_FUZZY_LENGTH,
    PlateMatch,
    SearchFilter,
    SearchMode,
    SearchPage,
    candidate_keys,
    check_max_distance,
    exact_query,
    fuzzy_query,
    parse_wildcard,
    rank,
    verify,
)
from schema.plates import normalize_plate
from sql import Query, fill, load_blocks, load_queries

log = logging.getLogger(__name__)

# A pool, a connection of its own, or one borrowed from a pool.
Db: TypeAlias = "asyncpg.Pool[Any] | asyncpg.Connection[Any] | PoolConnectionProxy[Any]"

MAX_PAGE = 100
MAX_OFFSET = 1000
# Fuzzy: at most this many candidates are verified; a short query may have
# more, and the page is then flagged incomplete.
CANDIDATE_CAP = 5000
TRIGRAM_THRESHOLD = 0.3


@dataclass(frozen=True)
class SearchLimits:
    """Tunables of a search; the gateway builds them from its settings."""

    max_distance: float = DEFAULT_MAX_DISTANCE
    wildcard_scan_rows: int = 50_000
    candidate_cap: int = CANDIDATE_CAP
    # Trigram similarity adds candidates three plain edits away (the keys
    # find all within two); lower finds more, slower.
    trigram_threshold: float = TRIGRAM_THRESHOLD


@cache
def _queries() -> dict[str, Query]:
    """The statements of plate_search.sql, the templates filled with its
    `plate_columns` and `plate_filter` fragments."""
    blocks = load_blocks("plate_search")
    pieces = {"columns": blocks["plate_columns"], "filter": blocks["plate_filter"]}
    filled = {
        name: Query.parse(fill(blocks[name], **pieces))
        for name in ("plate_details", "wildcard_indexed", "wildcard_scan")
    }
    return {**load_queries("plate_search"), **filled}


def _q(name: str, **params: Any) -> tuple[Any, ...]:
    """`name`'s text and values, for `db.fetch(*...)`."""
    return _queries()[name].bind(**params)


def _filter_params(f: SearchFilter) -> dict[str, Any]:
    return {
        "since": f.since,
        "until": f.until,
        "camera_id": f.camera_id,
        "site_id": f.site_id,
        "region": f.region,
    }


def _match(row: asyncpg.Record, score: float) -> PlateMatch:
    return PlateMatch(
        plate=row["plate"],
        score=score,
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        read_count=row["read_count"],
        last_region=row["last_region"],
        cameras=tuple(row["cameras"]),
    )


def _check_page(first: int, offset: int) -> None:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidRequest("first", f"must be between 1 and {MAX_PAGE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidRequest("after", f"cannot page past {MAX_OFFSET} results")


@translated
async def search_plates(
    db: Db,
    query: str,
    mode: SearchMode,
    search_filter: SearchFilter | None = None,
    first: int = 20,
    offset: int = 0,
    limits: SearchLimits | None = None,
) -> SearchPage:
    """One page of plates matching `query` in `mode`, best first."""
    _check_page(first, offset)
    search_filter = search_filter or SearchFilter()
    limits = limits or SearchLimits()
    if mode is SearchMode.EXACT:
        found = await _details(db, [exact_query(query)], search_filter, {})
        return _slice(found, first, offset, complete=True)
    if mode is SearchMode.WILDCARD:
        return await _wildcard(db, query, search_filter, first, offset, limits)
    matches, complete = await _fuzzy(db, fuzzy_query(query), search_filter, limits)
    return _slice(matches, first, offset, complete)


async def _details(
    db: Db, plates: Sequence[str], search_filter: SearchFilter, scores: dict[str, float]
) -> list[PlateMatch]:
    rows = await db.fetch(
        *_q("plate_details", plates=list(plates), **_filter_params(search_filter))
    )
    return rank(_match(row, scores.get(row["plate"], 0.0)) for row in rows)


def _slice(matches: list[PlateMatch], first: int, offset: int, complete: bool) -> SearchPage:
    page = matches[offset : offset + first]
    return SearchPage(page, has_more=len(matches) > offset + first, complete=complete)


async def _wildcard(
    db: Db,
    query: str,
    search_filter: SearchFilter,
    first: int,
    offset: int,
    limits: SearchLimits,
) -> SearchPage:
    pattern = parse_wildcard(query)
    params = {
        "pattern": pattern.like,
        **_filter_params(search_filter),
        "limit": first + 1,
        "offset": offset,
    }
    if pattern.indexable:
        rows = await db.fetch(*_q("wildcard_indexed", **params))
        complete = True
    else:
        cap = limits.wildcard_scan_rows
        # Up to `cap` plates a scan of all of them is cheap and complete.
        complete = not await db.fetchval(*_q("plate_count_at_least", rows=cap + 1))
        scan_rows = None if complete else cap
        rows = await db.fetch(*_q("wildcard_scan", **params, scan_rows=scan_rows))
    matches = [_match(row, 0.0) for row in rows]
    return SearchPage(matches[:first], has_more=len(matches) > first, complete=complete)


async def _fuzzy(
    db: Db, query: str, search_filter: SearchFilter, limits: SearchLimits
) -> tuple[list[PlateMatch], bool]:
    max_distance = check_max_distance(limits.max_distance)
    keys = candidate_keys(query, max_distance)
    # The keys find every plate within two plain edits; a third (a limit of
    # 3) only through trigram similarity, and the page says it may miss some.
    beyond_keys = max_distance >= KEYS_COMPLETE_UP_TO + EDIT_COST
    rows = await _candidates(db, keys, query, limits, beyond_keys)
    candidates = [row["plate_normalized_text"] for row in rows]
    complete = len(candidates) <= limits.candidate_cap and not beyond_keys
    # Plate text is personal data: counts only, and only at debug level.
    scores = verify(query, candidates[: limits.candidate_cap], max_distance)
    log.debug("fuzzy search: %d candidates, %d within distance", len(candidates), len(scores))
    return await _details(db, list(scores), search_filter, scores), complete


async def _candidates(
    db: Db, keys: list[str], query: str, limits: SearchLimits, trigrams: bool
) -> list[asyncpg.Record]:
    """Candidates by skeleton keys and, with `trigrams`, by trigram similarity.

    Session settings, for this transaction only (the pool's other users keep
    theirs): the trigram threshold, and no parallel workers — the planner
    cannot estimate an array overlap and expects a hundred thousand rows,
    so it starts workers (about 60 ms on a busy host) to fetch a few dozen.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _candidates(conn, keys, query, limits, trigrams)
    cap = limits.candidate_cap + 1
    async with db.transaction():
        await db.execute(*_q("candidate_settings", threshold=str(limits.trigram_threshold)))
        if trigrams:
            return await db.fetch(*_q("fuzzy_candidates", keys=keys, query=query, limit=cap))
        return await db.fetch(*_q("fuzzy_candidates_by_keys", keys=keys, limit=cap))


@translated
async def similar_plates(
    db: Db, plate: str, first: int = 10, limits: SearchLimits | None = None
) -> list[PlateMatch]:
    """The fuzzy neighbours of `plate` (likely misreads of the same vehicle),
    best first, without the plate itself; none for plates too short to search."""
    _check_page(first, 0)
    if len(normalize_plate(plate)) < MIN_FUZZY_LENGTH:
        return []
    text = fuzzy_query(plate)
    matches, _ = await _fuzzy(db, text, SearchFilter(), limits or SearchLimits())
    return [m for m in matches if m.plate != text][:first]


@translated
async def audit_search(
    db: Db,
    client: str,
    variables: dict[str, Any],
    result_count: int,
    purpose: str | None,
) -> None:
    """Record a search made outside the gateway (the CLI) in audit_log."""
    audit = _q(
        "audit_search",
        client=client,
        variables=json.dumps(variables),
        result_count=result_count,
        purpose=purpose,
    )
    await db.execute(*audit)
