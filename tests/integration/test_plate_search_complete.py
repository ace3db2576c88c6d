"""Fuzzy plate search finds every plate within its limit, against a real
PostgreSQL: the index keys and candidate_keys together, not a model of them."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.plate_search import SearchLimits, _fuzzy, search_plates
from schema.plate_match import SearchFilter, SearchMode, ocr_distance
from tests.support.plate_variants import every_variant, plain_edits, random_plate

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


async def _store(conn: asyncpg.Connection[Any], plates: set[str]) -> None:
    rows = [(p, T0, T0, 1, "US-FL", "cam-a") for p in plates]
    await conn.copy_records_to_table("plates", records=rows)


async def test_every_stored_variant_is_found(pool: asyncpg.Pool[Any]) -> None:
    """All strings within cost 2 of a plate (plain edits over A-Z0-9,
    look-alike swaps: about 70,000) are stored; a search for the plate
    returns them all.
    In a transaction rolled back afterwards: the module's other tests see an
    empty table."""
    rng = random.Random(29)
    limits = SearchLimits(max_distance=2.0, candidate_cap=400_000)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            plate = random_plate(rng, 5, 5)
            variants = every_variant(plate, 2.0)
            await _store(conn, variants)
            matches, complete = await _fuzzy(conn, plate, SearchFilter(), limits)
            found = {m.plate: m.score for m in matches}
            assert complete
            assert set(found) == variants, sorted(variants ^ set(found))[:20]
            for variant in rng.sample(sorted(variants), 2000):
                assert found[variant] == ocr_distance(plate, variant, 2.0)
        finally:
            await tx.rollback()


async def test_every_queried_variant_finds_the_stored_plate(pool: asyncpg.Pool[Any]) -> None:
    """The other direction: stored plates, queries two plain edits away of
    every kind (a sample: each query is a round trip)."""
    rng = random.Random(31)
    plates = {random_plate(rng, 6, 8) for _ in range(20)}
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await _store(conn, plates)
            for plate in sorted(plates):
                for _ in range(15):
                    query = rng.choice(sorted(plain_edits(rng.choice(sorted(plain_edits(plate))))))
                    distance = ocr_distance(plate, query, 2.0)
                    if distance is None or len(query) < 3:
                        continue
                    page = await search_plates(conn, query, SearchMode.FUZZY, first=100)
                    assert (plate, distance) in {(m.plate, m.score) for m in page.matches}, query
        finally:
            await tx.rollback()


async def test_a_substitution_and_a_deletion_from_the_stored_plate(pool: asyncpg.Pool[Any]) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await _store(conn, {"NVSLDU4"})
            page = await search_plates(conn, "SVSLU4", SearchMode.FUZZY)
            assert [(m.plate, m.score) for m in page.matches] == [("NVSLDU4", 2.0)]
            assert page.complete
        finally:
            await tx.rollback()
