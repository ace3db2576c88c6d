"""Stand-in for `schema.fuzzy` (the complete fuzzy index being written on the
fuzzy branch) with the same interface, until that lands: `align`,
`FuzzyIndex`, `WildcardIndex`. Built on `schema.plate_match` only.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from schema.plate_match import (
    CONFUSION_COST,
    EDIT_COST,
    WildcardPattern,
    deletions,
    ocr_distance,
    parse_wildcard,
    substitution_cost,
)
from schema.plates import plate_skeleton

K = TypeVar("K", bound=Hashable)


class EditKind(enum.Enum):
    CONFUSION = "confusion"
    SUBSTITUTION = "substitution"
    INSERTION = "insertion"
    DELETION = "deletion"


@dataclass(frozen=True)
class Edit:
    kind: EditKind
    position: int
    read_position: int
    expected: str
    read: str
    cost: float


@dataclass(frozen=True)
class FuzzyHit(Generic[K]):
    entry: K
    plate: str
    cost: float
    edits: tuple[Edit, ...]


def align(expected: str, read: str) -> tuple[float, tuple[Edit, ...]]:
    """The weighted distance from `expected` to `read` and one cheapest alignment."""
    table = [[j * EDIT_COST for j in range(len(read) + 1)]]
    for i, ca in enumerate(expected, 1):
        row = [i * EDIT_COST]
        for j, cb in enumerate(read, 1):
            row.append(
                min(
                    table[-1][j] + EDIT_COST,
                    row[j - 1] + EDIT_COST,
                    table[-1][j - 1] + substitution_cost(ca, cb),
                )
            )
        table.append(row)
    edits: list[Edit] = []
    i, j = len(expected), len(read)
    while i or j:
        here = table[i][j]
        if (
            i
            and j
            and here == table[i - 1][j - 1] + substitution_cost(expected[i - 1], read[j - 1])
        ):
            i, j = i - 1, j - 1
            if expected[i] != read[j]:
                cost = substitution_cost(expected[i], read[j])
                kind = EditKind.CONFUSION if cost == CONFUSION_COST else EditKind.SUBSTITUTION
                edits.append(Edit(kind, i, j, expected[i], read[j], cost))
        elif i and here == table[i - 1][j] + EDIT_COST:
            i -= 1
            edits.append(Edit(EditKind.DELETION, i, j, expected[i], "", EDIT_COST))
        else:
            j -= 1
            edits.append(Edit(EditKind.INSERTION, i, j, "", read[j], EDIT_COST))
    edits.reverse()
    return table[-1][-1], tuple(edits)


class FuzzyIndex(Generic[K]):
    """Entries found by reads within each entry's maximum cost (symmetric deletions
    of the skeletons, then the exact distance)."""

    def __init__(self) -> None:
        self._entries: dict[K, tuple[str, float]] = {}
        self._keys: dict[str, set[K]] = {}
        self._depth = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: K, plate: str, max_cost: float) -> None:
        depth = int(max_cost // EDIT_COST)
        self._depth = max(self._depth, depth)
        self._entries[entry] = (plate, max_cost)
        for key in deletions(plate_skeleton(plate), depth):
            self._keys.setdefault(key, set()).add(entry)

    def lookup(self, read: str) -> list[FuzzyHit[K]]:
        if not self._entries:
            return []
        candidates: set[K] = set()
        for key in deletions(plate_skeleton(read), self._depth):
            candidates |= self._keys.get(key, set())
        hits = []
        for entry in candidates:
            plate, max_cost = self._entries[entry]
            if ocr_distance(plate, read, max_cost) is not None:
                cost, edits = align(plate, read)
                hits.append(FuzzyHit(entry, plate, cost, edits))
        return sorted(hits, key=lambda hit: (hit.cost, hit.plate))


class WildcardIndex(Generic[K]):
    """Pattern entries, filed under a literal gram of up to three characters."""

    def __init__(self) -> None:
        self._entries: dict[K, WildcardPattern] = {}
        self._grams: dict[int, dict[str, set[K]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: K, pattern: str) -> None:
        parsed = parse_wildcard(pattern)
        gram = max(parsed.text.replace("?", "*").split("*"), key=len)[:3]
        self._entries[entry] = parsed
        self._grams.setdefault(len(gram), {}).setdefault(gram, set()).add(entry)

    def lookup(self, read: str) -> list[K]:
        candidates: set[K] = set()
        for size, grams in self._grams.items():
            for start in range(len(read) - size + 1):
                candidates |= grams.get(read[start : start + size], set())
        return [entry for entry in candidates if self._entries[entry].matches(read)]
