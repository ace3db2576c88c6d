"""Search quality: does fuzzy search find the true plate behind a misread?

20,000 true plates; reads of them with OCR noise (confusions inside the
documented classes at a per-character rate, plus a small share of random
substitutions, dropped and inserted characters) stored by the real writer,
so `plates` holds the true plates and their misreads; 200 queries of noisy
text whose true plate is known (and was read right at least once: a plate
never read right is not in the database for any search to find). Fuzzy
search must put the true plate in its top 10 for 95 % of queries and first
for 80 %. Wildcard search must return exactly what a brute-force matcher
over all plates returns.
"""

from __future__ import annotations

import random
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gateway.plate_search import search_plates
from ingestor.writer import merge_search_pending, write_batch
from schema.events import PlateEvent, event_from_dict
from schema.plate_match import SearchMode, parse_wildcard
from schema.plates import OCR_CONFUSION_CLASSES
from tests.factories import wire_event

pytestmark = pytest.mark.slow

TRUE_PLATES = 20_000
QUERIES = 200
SEED = 20261128
FORMATS = ("LLLDDDD", "DLLLDDD", "LLDDLLL", "DDDLLL", "LLLDDD", "LDDDLL", "DDLLDD")

# Noise per read (per query, at least one of them must happen).
CONFUSION_RATE = 0.06  # per confusable character
SUBSTITUTION_RATE = 0.04  # per read: one random character replaced
DROP_RATE = 0.04  # per read: one character lost
INSERT_RATE = 0.02  # per read: one spurious character

_ALNUM = string.ascii_uppercase + string.digits
_CLASS = {c: sorted(group - {c}) for group in OCR_CONFUSION_CLASSES for c in group}
T0 = datetime(2026, 11, 21, tzinfo=UTC)


def _true_plate(rng: random.Random) -> str:
    layout = rng.choice(FORMATS)
    return "".join(
        rng.choice(string.ascii_uppercase if c == "L" else string.digits) for c in layout
    )


def misread(plate: str, rng: random.Random) -> str:
    """`plate` as an OCR engine might read it."""
    chars = [
        rng.choice(_CLASS[c]) if c in _CLASS and rng.random() < CONFUSION_RATE else c for c in plate
    ]
    if rng.random() < SUBSTITUTION_RATE:
        chars[rng.randrange(len(chars))] = rng.choice(_ALNUM)
    if rng.random() < DROP_RATE:
        del chars[rng.randrange(len(chars))]
    if rng.random() < INSERT_RATE:
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(_ALNUM))
    return "".join(chars)


def noisy_query(plate: str, rng: random.Random) -> str:
    """A misread that differs from the plate (a query worth a fuzzy search)."""
    while True:
        text = misread(plate, rng)
        if text != plate:
            return text


def _reads(plates: list[str], rng: random.Random) -> list[PlateEvent]:
    events = []
    for plate in plates:
        for _ in range(rng.randint(1, 5)):
            at = T0 + timedelta(seconds=rng.randrange(5 * 86_400))
            events.append(
                event_from_dict(
                    wire_event(
                        plate__text=misread(plate, rng),
                        camera_id=f"cam-{rng.randrange(20):02d}",
                        captured_at=at.isoformat(),
                    )
                )
            )
    return events


@pytest.fixture(scope="module")
async def corpus(pool: asyncpg.Pool[Any]) -> tuple[list[str], random.Random]:
    rng = random.Random(SEED)
    plates: set[str] = set()
    while len(plates) < TRUE_PLATES:
        plates.add(_true_plate(rng))
    truth = sorted(plates)
    events = _reads(truth, rng)
    async with pool.acquire() as conn:
        for start in range(0, len(events), 5000):
            await write_batch(conn, events[start : start + 5000])
        # Merged, as the ingestor service keeps them (every 10 s): unmerged,
        # each search scans the 35,000 new plates' fast-update lists, 340 ms
        # a query here against 5, and the module ran past its timeout in CI.
        await merge_search_pending(conn)
    return truth, rng


async def test_fuzzy_recall(
    pool: asyncpg.Pool[Any], corpus: tuple[list[str], random.Random]
) -> None:
    truth, rng = corpus
    # A plate never once read right is in no index: no search can find it.
    # Queries are about true plates the database holds; report how many are.
    held = {r[0] for r in await pool.fetch("SELECT plate_normalized_text FROM plates")}
    findable = [p for p in truth if p in held]
    sample = rng.sample(findable, QUERIES)
    ranks: list[int | None] = []
    started = time.perf_counter()
    for plate in sample:
        page = await search_plates(pool, noisy_query(plate, rng), SearchMode.FUZZY, first=10)
        found = [m.plate for m in page.matches]
        ranks.append(found.index(plate) + 1 if plate in found else None)
    elapsed_ms = (time.perf_counter() - started) * 1000 / QUERIES
    at1 = sum(r == 1 for r in ranks) / QUERIES
    at10 = sum(r is not None for r in ranks) / QUERIES
    stored = await pool.fetchval("SELECT count(*) FROM plates")
    print(
        f"\nfuzzy search quality: {TRUE_PLATES} true plates ({len(findable)} read right at "
        f"least once), {stored} stored plates, "
        f"{QUERIES} noisy queries: recall@1={at1:.3f} recall@10={at10:.3f} "
        f"mean latency {elapsed_ms:.1f} ms"
    )
    assert at10 >= 0.95
    assert at1 >= 0.80


async def test_wildcard_equals_brute_force(
    pool: asyncpg.Pool[Any], corpus: tuple[list[str], random.Random]
) -> None:
    everything = [r[0] for r in await pool.fetch("SELECT plate_normalized_text FROM plates")]
    truth, rng = corpus
    queries = ["AB?1*", "*X99", "ZZ*", "*Q7?", "K?X*"]
    for plate in rng.sample(truth, 10):
        queries.append(plate[1:5])  # a fragment from the middle
        queries.append(plate[:3] + "*")  # a leading fragment
        queries.append("*" + plate[-3:])  # a trailing fragment
    for query in queries:
        pattern = parse_wildcard(query)
        expected = {p for p in everything if pattern.matches(p)}
        assert len(expected) <= 100, query  # one page holds them all
        page = await search_plates(pool, query, SearchMode.WILDCARD, first=100)
        assert page.complete and not page.has_more
        assert {m.plate for m in page.matches} == expected, query
