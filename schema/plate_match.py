"""Plate search as pure logic: query parsing, the OCR-weighted distance,
candidate keys and ranking. No I/O; `gateway.plate_search` runs it against SQL.

Three modes:

- exact: the normalized plate.
- wildcard: `*` any run, `?` one character, anchored at both ends
  (`AB?12*`); a bare fragment without either matches anywhere (`7353`
  finds `LOS7353`). Translated to a SQL LIKE pattern and to a Python
  matcher that must agree with it.
- fuzzy: the weighted edit distance below, up to `max_distance`.

How fuzzy search stays an index lookup. Every plate has a *skeleton*: each
OCR-confusable character replaced by its class representative
(`schema.plates.plate_skeleton`). A swap inside a class does not change the
skeleton, so within `max_distance` a plate's skeleton is at most
`floor(max_distance / EDIT_COST)` plain edits from the query's. The
database indexes each plate's skeleton together with its single-character
deletions (`alpr_plate_keys`, a GIN index); `candidate_keys` lists the
strings a query must look up so that every plate skeleton within two plain
edits shares one with it (its docstring has the case analysis). Every
candidate is then verified here with the exact distance.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from schema.errors import InvalidRequest
from schema.plates import OCR_CONFUSION_CLASSES, normalize_plate, plate_skeleton

# Costs are powers of two so sums of them are exact floats: ties rank
# deterministically and a test can assert `== 0.5`.
CONFUSION_COST = 0.25
EDIT_COST = 1.0
DEFAULT_MAX_DISTANCE = 2.0
MAX_MAX_DISTANCE = 3.0
MAX_QUERY_LENGTH = 20  # plate_normalized_text is VARCHAR(20)
MIN_FUZZY_LENGTH = 3

CONFUSION_CLASS_OF: dict[str, int] = {
    char: index for index, group in enumerate(OCR_CONFUSION_CLASSES) for char in group
}


class SearchMode(enum.Enum):
    """How a query string is matched against plates."""

    EXACT = "exact"
    WILDCARD = "wildcard"
    FUZZY = "fuzzy"


@dataclass(frozen=True)
class SearchFilter:
    """Narrowing conditions; all optional, combined with AND.

    `since`/`until` keep plates with a read in [since, until) (at the camera
    or site, when those are given too); `region` is the plate's last region.
    """

    since: datetime | None = None
    until: datetime | None = None
    camera_id: str | None = None
    site_id: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise InvalidRequest("filter", "since must be before until")


@dataclass(frozen=True)
class PlateMatch:
    """One ranked search result: a plate and what is known about it."""

    plate: str
    score: float
    first_seen: datetime
    last_seen: datetime
    read_count: int
    last_region: str
    cameras: tuple[str, ...]


@dataclass(frozen=True)
class SearchPage:
    """One page of ranked results.

    `complete` is False when the search looked at a bounded part of the
    plates only (a wildcard without three literal characters in a row scans
    the plates of the newest reads; a fuzzy query with too many candidates
    verifies the first ones; a fuzzy limit of three plain edits finds the
    third by trigram similarity): results are then correct but maybe not all.
    """

    matches: list[PlateMatch]
    has_more: bool
    complete: bool = True


# --- exact ---------------------------------------------------------------


def exact_query(query: str) -> str:
    """The normalized plate of an exact query; refuses empty or overlong text."""
    plate = normalize_plate(query)
    _check_length(plate, query)
    return plate


def _check_length(plate: str, query: str) -> None:
    if not plate:
        raise InvalidRequest("query", "needs at least one letter or digit")
    if len(plate) > MAX_QUERY_LENGTH:
        raise InvalidRequest("query", f"longer than {MAX_QUERY_LENGTH} characters")


# --- wildcard ------------------------------------------------------------

_WILDCARD_JUNK = re.compile(r"[^A-Z0-9*?]+")
_STARS = re.compile(r"\*+")


@dataclass(frozen=True)
class WildcardPattern:
    """A parsed wildcard query: its canonical text, LIKE pattern and matcher."""

    text: str
    like: str
    regex: re.Pattern[str]

    def matches(self, plate: str) -> bool:
        return self.regex.fullmatch(plate) is not None

    @property
    def indexable(self) -> bool:
        """True when the trigram index can narrow the search: some literal
        run has three characters, or two at an anchored end (pg_trgm pads
        the ends of a word with blanks, so `AB*` yields trigram "  a", " ab")."""
        runs = re.split(r"[%_]", self.like)
        inner = max((len(run) for run in runs), default=0) >= 3
        anchored = len(runs[0]) >= 2 or len(runs[-1]) >= 2
        return inner or anchored


def parse_wildcard(query: str) -> WildcardPattern:
    """Parse `query`; a query without `*` or `?` is a fragment found anywhere."""
    text = _STARS.sub("*", _WILDCARD_JUNK.sub("", query.upper()))
    literals = text.replace("*", "").replace("?", "")
    if not literals:
        raise InvalidRequest("query", "a wildcard query needs at least one letter or digit")
    if "*" not in text and "?" not in text:
        text = f"*{text}*"
    if len(text.replace("*", "")) > MAX_QUERY_LENGTH:
        raise InvalidRequest("query", f"longer than {MAX_QUERY_LENGTH} characters")
    # Literals are A-Z0-9 only, so nothing in them needs escaping for LIKE.
    like = text.replace("*", "%").replace("?", "_")
    regex = re.compile(text.replace("*", ".*").replace("?", "."))
    return WildcardPattern(text, like, regex)


# --- fuzzy ---------------------------------------------------------------


def substitution_cost(a: str, b: str) -> float:
    """0 for the same character, low inside an OCR confusion class, else an edit."""
    if a == b:
        return 0.0
    group = CONFUSION_CLASS_OF.get(a)
    return CONFUSION_COST if group is not None and group == CONFUSION_CLASS_OF.get(b) else EDIT_COST


def ocr_distance(a: str, b: str, limit: float = DEFAULT_MAX_DISTANCE) -> float | None:
    """The weighted edit distance from `a` to `b`, or None when it exceeds `limit`.

    Levenshtein with substitutions priced by `substitution_cost` and
    insertions/deletions at `EDIT_COST`; it stops as soon as a whole row of
    the table exceeds `limit`, which is what makes verifying hundreds of
    candidates cheap. The substitution cost is spelled inline: this loop is
    the inner loop of every fuzzy match.
    """
    if abs(len(a) - len(b)) * EDIT_COST > limit:
        return None
    classes = [CONFUSION_CLASS_OF.get(cb, -1) for cb in b]
    previous = [j * EDIT_COST for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        group = CONFUSION_CLASS_OF.get(ca, -2)
        current = [i * EDIT_COST]
        left = current[0]
        for j, cb in enumerate(b):
            if ca == cb:
                diagonal = previous[j]
            elif classes[j] == group:
                diagonal = previous[j] + CONFUSION_COST
            else:
                diagonal = previous[j] + EDIT_COST
            up = previous[j + 1] + EDIT_COST
            left = min(diagonal, up, left + EDIT_COST)
            current.append(left)
        if min(current) > limit:
            return None
        previous = current
    return previous[-1] if previous[-1] <= limit else None


def check_max_distance(max_distance: float) -> float:
    if not 0 <= max_distance <= MAX_MAX_DISTANCE:
        raise InvalidRequest("maxDistance", f"must be between 0 and {MAX_MAX_DISTANCE:g}")
    return max_distance


def fuzzy_query(query: str) -> str:
    """The normalized text of a fuzzy query; refuses what would match everything."""
    plate = normalize_plate(query)
    _check_length(plate, query)
    if len(plate) < MIN_FUZZY_LENGTH:
        raise InvalidRequest("query", f"fuzzy search needs {MIN_FUZZY_LENGTH} or more characters")
    return plate


def deletion_levels(text: str, depth: int) -> list[set[str]]:
    """`levels[d]`: every string made from `text` by deleting `d` characters,
    for d up to `depth` (fewer levels when `text` is shorter). Each level is
    spelled out by slicing, not derived from the one before: this runs once
    per read in the alert matcher."""
    n = len(text)
    levels = [{text}]
    for d in range(1, min(depth, n) + 1):
        if d == 1:
            level = {text[:i] + text[i + 1 :] for i in range(n)}
        elif d == 2:
            level = {
                text[:i] + text[i + 1 : j] + text[j + 1 :] for i, j in combinations(range(n), 2)
            }
        else:
            level = {s[:i] + s[i + 1 :] for s in levels[-1] for i in range(len(s))}
        levels.append(level)
    return levels


def deletions(text: str, depth: int) -> set[str]:
    """`text` and every string made from it by deleting up to `depth` characters."""
    return set().union(*deletion_levels(text, depth))


# Every character a skeleton can hold: A-Z and 0-9 with each confusion class
# collapsed to its representative.
SKELETON_ALPHABET = "".join(sorted(set(plate_skeleton(string.ascii_uppercase + string.digits))))


# Plain edits within which `candidate_keys` finds every plate.
KEYS_COMPLETE_UP_TO = 2 * EDIT_COST


def candidate_keys(query: str, max_distance: float) -> list[str]:
    """The strings to look up in the index of plate skeletons and their
    single deletions: every plate whose skeleton is within
    `min(2, floor(max_distance))` plain edits of the query's shares one.

    Why. Two skeletons within k edits (i substitutions, j characters only
    the query has, l only the plate has; i + j + l <= k) meet at a common
    string after i + j deletions from the query and i + l from the plate.
    When the plate side needs at most one, the query's own deletions up to
    k reach an indexed key. It needs two only when k = 2 and j = 0, and the
    index then holds that plate with one of the two deleted, which the
    query spells as: itself with one character inserted (l = 2), with one
    substituted (i = l = 1), or with one deleted and a later one
    substituted (i = 2). About 800 strings for a 7-character query.
    """
    skeleton = plate_skeleton(query)
    depth = int(min(max_distance, KEYS_COMPLETE_UP_TO) // EDIT_COST)
    keys = deletions(skeleton, depth)
    if depth == 2:
        keys |= _plate_side_second_deletions(skeleton)
    return sorted(keys)


def _plate_side_second_deletions(q: str) -> set[str]:
    found = {q[:p] + c + q[p:] for p in range(len(q) + 1) for c in SKELETON_ALPHABET}
    for p2 in range(len(q)):
        for c in SKELETON_ALPHABET:
            if c == q[p2]:
                continue
            tail = c + q[p2 + 1 :]
            found.add(q[:p2] + tail)
            found.update(q[:p1] + q[p1 + 1 : p2] + tail for p1 in range(p2))
    return found


def verify(query: str, candidates: Iterable[str], max_distance: float) -> dict[str, float]:
    """The candidates within `max_distance` of `query`, with their distance."""
    scored: dict[str, float] = {}
    for plate in candidates:
        distance = ocr_distance(query, plate, max_distance)
        if distance is not None:
            scored[plate] = distance
    return scored


def rank(matches: Iterable[PlateMatch]) -> list[PlateMatch]:
    """Best first: lowest cost, then most recently seen, then most read."""
    return sorted(
        matches, key=lambda m: (m.score, -m.last_seen.timestamp(), -m.read_count, m.plate)
    )
