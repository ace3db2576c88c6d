"""OCR-tolerant matching of one read against many stored patterns, in memory.

The cost model is plate search's (`schema.plate_match`): a substitution
inside an OCR confusion class costs 0.25, any other edit 1. This module adds
what a matcher of reads against watch-list entries needs on top of it:

- `align`: the cheapest alignment of an entry with a read as a list of
  `Edit`s (which characters differed, and how);
- `FuzzyIndex`: entries with a maximum cost each; `lookup(read)` returns
  every entry within its own maximum cost of the read, with cost and edits;
- `WildcardIndex`: entries that are `*`/`?` patterns; `lookup(read)`
  returns every entry whose pattern matches the read.

Why `FuzzyIndex` is complete. A confusion leaves the skeleton
(`schema.plates.plate_skeleton`) unchanged, and every other edit costs 1, so
an entry within cost c of a read has a skeleton within k = floor(c) plain
edits of the read's. Two strings within k edits share a string reachable
from each by at most k deletions (delete the substituted positions on both
sides, the inserted characters from the longer one). The index files each
entry under its skeleton's deletions up to the entry's own k; a lookup
generates the read's skeleton deletions up to k and looks them up among the
entries of that k. Every candidate is then verified with the exact
distance, so the result is exactly the entries within their cost.

No I/O and no locking: an index belongs to one task.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Generic, TypeVar

from schema.plate_match import (
    CONFUSION_CLASS_OF,
    CONFUSION_COST,
    EDIT_COST,
    WildcardPattern,
    check_max_distance,
    deletion_levels,
    parse_wildcard,
    substitution_cost,
)
from schema.plates import plate_skeleton

K = TypeVar("K", bound=Hashable)


class EditKind(enum.Enum):
    """How one character of the read differs from the entry."""

    CONFUSION = "confusion"  # an OCR look-alike of the expected character
    SUBSTITUTION = "substitution"  # another character
    INSERTION = "insertion"  # a character the entry does not have
    DELETION = "deletion"  # the entry's character is missing from the read


@dataclass(frozen=True)
class Edit:
    """One difference between an entry (`expected`) and a read.

    `position` indexes the entry's text (for an insertion: the entry
    character the extra one precedes, `len(entry)` at the end);
    `read_position` indexes the read's (for a deletion: the read character
    the missing one would precede). `expected` is "" for an insertion,
    `read` "" for a deletion.
    """

    kind: EditKind
    position: int
    read_position: int
    expected: str
    read: str
    cost: float


@dataclass(frozen=True)
class FuzzyHit(Generic[K]):
    """An entry within its maximum cost of a read."""

    entry: K
    plate: str
    cost: float
    edits: tuple[Edit, ...]


def align(expected: str, read: str) -> tuple[float, tuple[Edit, ...]]:
    """The weighted edit distance from `expected` to `read` (as `ocr_distance`
    computes it, unbounded) and one cheapest alignment's edits, in text order.

    Among equally cheap alignments the one preferring a (mis)matched pair,
    then a missing character, then an extra one, from the end backwards.
    """
    table = _cost_table(expected, read)
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
                edits.append(_substitution(i, j, expected[i], read[j]))
        elif i and here == table[i - 1][j] + EDIT_COST:
            i -= 1
            edits.append(Edit(EditKind.DELETION, i, j, expected[i], "", EDIT_COST))
        else:
            j -= 1
            edits.append(Edit(EditKind.INSERTION, i, j, "", read[j], EDIT_COST))
    edits.reverse()
    return table[-1][-1], tuple(edits)


def _cost_table(a: str, b: str) -> list[list[float]]:
    """The full weighted edit-distance table of `a` against `b` (the
    substitution cost inline, as in `ocr_distance`)."""
    classes = [CONFUSION_CLASS_OF.get(cb, -1) for cb in b]
    table = [[j * EDIT_COST for j in range(len(b) + 1)]]
    for i, ca in enumerate(a, 1):
        group = CONFUSION_CLASS_OF.get(ca, -2)
        above = table[-1]
        row = [i * EDIT_COST]
        left = row[0]
        for j, cb in enumerate(b):
            if ca == cb:
                diagonal = above[j]
            elif classes[j] == group:
                diagonal = above[j] + CONFUSION_COST
            else:
                diagonal = above[j] + EDIT_COST
            left = min(diagonal, above[j + 1] + EDIT_COST, left + EDIT_COST)
            row.append(left)
        table.append(row)
    return table


def _substitution(i: int, j: int, expected: str, read: str) -> Edit:
    cost = substitution_cost(expected, read)
    kind = EditKind.CONFUSION if cost == CONFUSION_COST else EditKind.SUBSTITUTION
    return Edit(kind, i, j, expected, read, cost)


@dataclass(frozen=True)
class _Entry:
    plate: str
    max_cost: float
    depth: int
    skeleton: str
    # keys under the three tables of the entry's depth (see _Depth)
    low: frozenset[str]
    top: frozenset[str]
    masked: frozenset[str]
    # skeleton and plate as bit masks per character, for `_plain_distance`
    skeleton_masks: dict[str, int]
    plate_masks: dict[str, int]


@dataclass
class _Depth(Generic[K]):
    """The keys of the entries of one depth k (floor of the maximum cost).

    A read and an entry within k plain edits meet at a string after
    deleting `r` characters from the read and `e` from the entry, both at
    most k. Pairs with r = e = k are substitutions only, in the same
    positions on both sides, so they meet as *masked* strings (the deleted
    positions replaced by "?"): far fewer chance meetings than bare
    deletions. So: `low` holds the entry's deletions up to k - 1, `top` its
    deletions of exactly k, `masked` its k-masked skeletons; a read's
    deletions of fewer than k characters are looked up in `low` and `top`,
    its k-deletions in `low`, its k-masked skeletons in `masked`.

    Keys meet only at equal lengths: `lengths` counts the entries'
    skeletons by length, so a read spells and looks up only the key levels
    some entry can meet.
    """

    k: int
    low: dict[str, set[K]] = field(default_factory=dict)
    top: dict[str, set[K]] = field(default_factory=dict)
    masked: dict[str, set[K]] = field(default_factory=dict)
    lengths: dict[int, int] = field(default_factory=dict)
    size: int = 0

    def plan(self, n: int) -> list[tuple[dict[str, set[K]], int, bool]]:
        """What a read skeleton of `n` characters looks up: (table, r,
        masked) for its r-deletions or, when masked, its r-masked forms. An
        r-deletion (n - r long) meets an entry's e-deletions only when the
        entry is n - r + e long, a masked form an entry as long as the read."""
        k = self.k
        plan: list[tuple[dict[str, set[K]], int, bool]] = []
        for r in range(min(k, n) + 1):
            if r < k:
                if self._any_length(n - r, n - r + k - 1):
                    plan.append((self.low, r, False))
                if self._any_length(n - r + k, n - r + k):
                    plan.append((self.top, r, False))
            elif self._any_length(n - k, n - 1):
                plan.append((self.low, k, False))
        if n >= k and n in self.lengths:
            plan.append((self.masked, k, True))
        return plan

    def _any_length(self, shortest: int, longest: int) -> bool:
        return any(shortest <= length <= longest for length in self.lengths)


def _masked(text: str, depth: int) -> set[str]:
    """`text` with each choice of `depth` positions replaced by "?"."""
    if depth == 0:
        return {text}
    if depth == 1:
        return {text[:i] + "?" + text[i + 1 :] for i in range(len(text))}
    if depth == 2:
        pairs = combinations(range(len(text)), 2)
        return {text[:i] + "?" + text[i + 1 : j] + "?" + text[j + 1 :] for i, j in pairs}
    found = set()
    for positions in combinations(range(len(text)), depth):
        chars = list(text)
        for p in positions:
            chars[p] = "?"
        found.add("".join(chars))
    return found


def _read_keys(text: str, depth: int) -> tuple[list[set[str]], set[str] | None]:
    """`deletion_levels(text, depth)` and, at depth 2, the 2-masked forms
    too: both come from the same pairs of positions, cut once."""
    if depth != 2 or len(text) < 2:
        return deletion_levels(text, depth), None
    n = len(text)
    cuts = [(text[:i], text[i + 1 : j], text[j + 1 :]) for i, j in combinations(range(n), 2)]
    levels = [{text}, {text[:i] + text[i + 1 :] for i in range(n)}]
    levels.append({a + b + c for a, b, c in cuts})
    return levels, {a + "?" + b + "?" + c for a, b, c in cuts}


def _bit_masks(text: str) -> dict[str, int]:
    masks: dict[str, int] = {}
    for i, c in enumerate(text):
        masks[c] = masks.get(c, 0) | 1 << i
    return masks


def _plain_distance(masks: dict[str, int], length: int, text: str) -> int:
    """The unweighted Levenshtein distance between the string of `length`
    characters whose `_bit_masks` are `masks` and `text`: Myers' bit-parallel
    algorithm (in Hyyro's form for whole strings), a few integer operations
    per character of `text`."""
    if not length:
        return len(text)
    full = (1 << length) - 1
    high = 1 << (length - 1)
    pv, mv, score = full, 0, length
    for c in text:
        eq = masks.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def _verify(filed: _Entry, skeleton: str, read: str) -> tuple[float, tuple[Edit, ...]] | None:
    """The cost and edits of `read` against `filed`, or None above its maximum.

    Two bit-parallel distances bound the weighted cost W = p + c / 4 of the
    best alignment (p plain edits, c confusions) before the table is
    built: p is at least the skeletons' distance S, and p + c at least the
    plates' distance P, so W >= 3S/4 + P/4; and W <= P. Most candidates are
    refused by the bound; the table runs for the hits and the few between.
    """
    plain = _plain_distance(filed.skeleton_masks, len(filed.skeleton), skeleton)
    if plain > filed.depth:
        return None
    exact = _plain_distance(filed.plate_masks, len(filed.plate), read)
    if 0.75 * plain + 0.25 * exact > filed.max_cost:
        return None
    cost, edits = align(filed.plate, read)
    return (cost, edits) if cost <= filed.max_cost else None


def _file(table: dict[str, set[K]], keys: frozenset[str], entry: K) -> None:
    for key in keys:
        table.setdefault(key, set()).add(entry)


def _unfile(table: dict[str, set[K]], keys: frozenset[str], entry: K) -> None:
    for key in keys:
        bucket = table[key]
        bucket.discard(entry)
        if not bucket:
            del table[key]


class FuzzyIndex(Generic[K]):
    """Entries (any hashable key, a plate, a maximum cost up to 3) found by
    the reads within that cost.

    Plates are normalized text (`schema.plates.normalize_plate`); the index
    compares them as given. An entry of maximum cost c is filed under about
    2 C(n, floor(c)) keys; a lookup intersects the read's keys (a few dozen
    short strings) with each table's keys in C, then runs a bit-parallel
    edit distance per candidate and the exact weighted distance per
    survivor. The last `CACHE_SIZE` plates looked up are answered from a
    cache (a vehicle is read several times in a pass); any change to the
    index empties it.
    """

    CACHE_SIZE = 4096

    def __init__(self) -> None:
        self._entries: dict[K, _Entry] = {}
        self._depths: dict[int, _Depth[K]] = {}
        self._cache: dict[str, tuple[FuzzyHit[K], ...]] = {}
        # read length -> the deepest deletion level it needs and its lookups
        self._plans: dict[int, tuple[int, list[tuple[dict[str, set[K]], int, bool]]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry: object) -> bool:
        return entry in self._entries

    def add(self, entry: K, plate: str, max_cost: float) -> None:
        """File `entry` (replacing an entry of the same key); refuses a cost
        outside [0, 3] with `InvalidRequest`."""
        check_max_distance(max_cost)
        self.remove(entry)
        depth = int(max_cost // EDIT_COST)
        skeleton = plate_skeleton(plate)
        levels = deletion_levels(skeleton, depth)
        low = frozenset().union(*levels[:depth])
        top = frozenset(levels[depth]) if len(levels) > depth else frozenset()
        masked = frozenset(_masked(skeleton, depth))
        filed = _Entry(
            plate,
            max_cost,
            depth,
            skeleton,
            low,
            top,
            masked,
            _bit_masks(skeleton),
            _bit_masks(plate),
        )
        self._entries[entry] = filed
        tables = self._depths.setdefault(depth, _Depth(depth))
        tables.lengths[len(skeleton)] = tables.lengths.get(len(skeleton), 0) + 1
        _file(tables.low, low, entry)
        _file(tables.top, top, entry)
        _file(tables.masked, masked, entry)
        tables.size += 1
        self._changed()

    def remove(self, entry: K) -> None:
        """Forget `entry`; nothing happens when it is not filed."""
        filed = self._entries.pop(entry, None)
        if filed is None:
            return
        self._changed()
        tables = self._depths[filed.depth]
        _unfile(tables.low, filed.low, entry)
        _unfile(tables.top, filed.top, entry)
        _unfile(tables.masked, filed.masked, entry)
        tables.lengths[len(filed.skeleton)] -= 1
        if not tables.lengths[len(filed.skeleton)]:
            del tables.lengths[len(filed.skeleton)]
        tables.size -= 1
        if not tables.size:
            del self._depths[filed.depth]

    def lookup(self, read: str) -> list[FuzzyHit[K]]:
        """Every entry within its maximum cost of `read`, cheapest first."""
        cached = self._cache.get(read)
        if cached is None:
            cached = self._cache[read] = self._lookup(read)
            if len(self._cache) > self.CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        return list(cached)

    def _lookup(self, read: str) -> tuple[FuzzyHit[K], ...]:
        if not self._depths:
            return ()
        skeleton = plate_skeleton(read)
        hits = []
        entries = self._entries
        for entry in self._candidates(skeleton):
            filed = entries[entry]
            verified = _verify(filed, skeleton, read)
            if verified is not None:
                hits.append(FuzzyHit(entry, filed.plate, *verified))
        hits.sort(key=lambda hit: (hit.cost, hit.plate))
        return tuple(hits)

    def _changed(self) -> None:
        self._cache.clear()
        self._plans.clear()

    def _candidates(self, skeleton: str) -> set[K]:
        """The entries sharing a key with the read (see `_Depth.plan`). Each
        key set is intersected with a table's keys in one C-level operation;
        only the few keys present are visited in Python."""
        n = len(skeleton)
        planned = self._plans.get(n)
        if planned is None:
            lookups = [item for tables in self._depths.values() for item in tables.plan(n)]
            deepest = max((r for _, r, masked in lookups if not masked), default=0)
            planned = self._plans[n] = (deepest, lookups)
        deepest, lookups = planned
        levels, masked_two = _read_keys(skeleton, deepest)
        found: set[K] = set()
        for table, r, masked in lookups:
            if not masked:
                keys = levels[r]
            elif r == 2 and masked_two is not None:
                keys = masked_two
            else:
                keys = _masked(skeleton, r)
            for key in table.keys() & keys:
                found |= table[key]
        return found


class WildcardIndex(Generic[K]):
    """Entries that are wildcard patterns (`parse_wildcard`: `*` any run,
    `?` one character), found by the reads they match.

    Each pattern is filed under one literal gram of up to three characters
    taken from its longest literal run; a read looks up its own grams of
    those lengths (at most 3 x its length probes) and runs the few patterns
    found. A pattern can only match a read containing its gram, so this
    finds every match.
    """

    def __init__(self) -> None:
        self._entries: dict[K, tuple[WildcardPattern, str]] = {}
        # gram length -> gram -> entries
        self._grams: dict[int, dict[str, set[K]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry: object) -> bool:
        return entry in self._entries

    def add(self, entry: K, pattern: str) -> None:
        """File `entry` under `pattern` (replacing an entry of the same key);
        refuses what `parse_wildcard` refuses, with `InvalidRequest`."""
        parsed = parse_wildcard(pattern)
        self.remove(entry)
        runs = parsed.text.replace("?", "*").split("*")
        gram = max(runs, key=len)[:3]
        self._entries[entry] = (parsed, gram)
        self._grams.setdefault(len(gram), {}).setdefault(gram, set()).add(entry)

    def remove(self, entry: K) -> None:
        """Forget `entry`; nothing happens when it is not filed."""
        filed = self._entries.pop(entry, None)
        if filed is None:
            return
        gram = filed[1]
        grams = self._grams[len(gram)]
        grams[gram].discard(entry)
        if not grams[gram]:
            del grams[gram]
        if not grams:
            del self._grams[len(gram)]

    def pattern(self, entry: K) -> str:
        """The canonical pattern `entry` is filed under (KeyError if none)."""
        return self._entries[entry][0].text

    def lookup(self, read: str) -> list[K]:
        """Every entry whose pattern matches all of `read`."""
        candidates: set[K] = set()
        for size, grams in self._grams.items():
            for start in range(len(read) - size + 1):
                found = grams.get(read[start : start + size])
                if found:
                    candidates |= found
        return [entry for entry in candidates if self._entries[entry][0].matches(read)]
