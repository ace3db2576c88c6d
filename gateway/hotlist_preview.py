"""`fuzzyMisreads`: the misreads a fuzzy entry would accept, for list managers.

The reads within `maxCost` of an entry's plate, cheapest first, under the
matcher's cost model (`schema.plate_match`: a look-alike costs 0.25, any
other edit 1), each with its edits (`schema.fuzzy.align`). Generated, not
read: no plate data, no audit. The stored plates such an entry would have
hit are plate search's (`plateSearch(mode: FUZZY, maxDistance: maxCost)`).
"""

from __future__ import annotations

import asyncio
import heapq
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.scalars import JSON

from schema.errors import InvalidRequest
from schema.fuzzy import align
from schema.plate_match import (
    EDIT_COST,
    MAX_MAX_DISTANCE,
    MAX_QUERY_LENGTH,
    check_max_distance,
    substitution_cost,
)
from schema.plates import normalize_plate

ALPHABET = string.ascii_uppercase + string.digits
MAX_MISREADS = 200  # at cost 2, about 0.3 s of work (in a thread)


def _neighbours(text: str) -> Iterator[tuple[str, float]]:
    """Every text one edit from `text`, with that edit's cost."""
    for i, char in enumerate(text):
        for other in ALPHABET:
            if other != char:
                yield text[:i] + other + text[i + 1 :], substitution_cost(char, other)
        if len(text) > 1:
            yield text[:i] + text[i + 1 :], EDIT_COST
    if len(text) < MAX_QUERY_LENGTH:
        for i in range(len(text) + 1):
            for other in ALPHABET:
                yield text[:i] + other + text[i:], EDIT_COST


def misreads(plate: str, max_cost: float, limit: int) -> tuple[list[tuple[str, float]], bool]:
    """Up to `limit` texts within `max_cost` of `plate` (itself excluded),
    cheapest first (then alphabetical), and whether more are within it.

    A shortest-path search over single edits: a text is final when popped,
    at its weighted edit distance from `plate`."""
    best = {plate: 0.0}
    frontier = [(0.0, plate)]
    found: list[tuple[str, float]] = []
    while frontier:
        cost, text = heapq.heappop(frontier)
        if cost > best[text]:
            continue
        if text != plate:
            if len(found) == limit:
                return found, True
            found.append((text, cost))
        for other, step in _neighbours(text):
            total = cost + step
            if total <= max_cost and total < best.get(other, max_cost + 1):
                best[other] = total
                heapq.heappush(frontier, (total, other))
    return found, False


@strawberry.type(description="A read an entry would accept, with the edits that make it.")
class Misread:
    plate: str
    cost: float
    edits: JSON = strawberry.field(
        description="As an alert's edits (position in the entry, expected, read, kind, "
        "cost), with readPosition: the position in this read."
    )


@strawberry.type(description="The misreads a fuzzy entry would accept, cheapest first.")
class MisreadPreview:
    plate: str
    max_cost: float
    misreads: list[Misread]
    more: bool = strawberry.field(description="More misreads are within the cost than shown.")


def _edits(plate: str, read: str) -> Any:  # JSON
    _, edits = align(plate, read)
    return [
        {
            "position": e.position,
            "readPosition": e.read_position,
            "expected": e.expected,
            "read": e.read,
            "kind": e.kind.value,
            "cost": e.cost,
        }
        for e in edits
    ]


@dataclass(frozen=True)
class _Asked:
    plate: str
    max_cost: float
    first: int


def _checked(plate: str, max_cost: float, first: int) -> _Asked:
    text = normalize_plate(plate)
    if not 1 <= len(text) <= MAX_QUERY_LENGTH:
        raise InvalidRequest("plate", f"must have 1 to {MAX_QUERY_LENGTH} letters or digits")
    if max_cost > MAX_MAX_DISTANCE - 1:
        # Three whole edits around a plate are tens of millions of texts.
        raise InvalidRequest("maxCost", f"must be at most {MAX_MAX_DISTANCE - 1:g} for a preview")
    if not 1 <= first <= MAX_MISREADS:
        raise InvalidRequest("first", f"must be between 1 and {MAX_MISREADS}")
    return _Asked(text, check_max_distance(max_cost), first)


@strawberry.type
class PreviewQueries:
    @strawberry.field
    async def fuzzy_misreads(
        self, plate: str, max_cost: float = 1.0, first: int = 50
    ) -> MisreadPreview:
        """The reads a fuzzy entry for `plate` with `maxCost` would accept,
        cheapest first (`first` of them, at most 200; maxCost at most 2)."""
        asked = _checked(plate, max_cost, first)
        found, more = await asyncio.to_thread(misreads, asked.plate, asked.max_cost, asked.first)
        return MisreadPreview(
            plate=asked.plate,
            max_cost=asked.max_cost,
            misreads=[Misread(plate=t, cost=c, edits=_edits(asked.plate, t)) for t, c in found],
            more=more,
        )
