"""Plate search logic without a database: wildcards, the OCR distance, keys."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

import sql
from schema.errors import InvalidRequest
from schema.plate_match import (
    CONFUSION_COST,
    EDIT_COST,
    PlateMatch,
    SearchFilter,
    candidate_keys,
    check_max_distance,
    deletions,
    exact_query,
    fuzzy_query,
    ocr_distance,
    parse_wildcard,
    rank,
    substitution_cost,
    verify,
)
from schema.plates import OCR_SKELETON, plate_skeleton
from tests.support.plate_variants import plain_edits, random_plate

# --- wildcard ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "text", "like"),
    [
        ("7353", "*7353*", "%7353%"),
        ("AB?12*", "AB?12*", "AB_12%"),
        ("ab-?12**", "AB?12*", "AB_12%"),
        ("*xyz", "*XYZ", "%XYZ"),
        ("??1", "??1", "__1"),
        ("a?", "A?", "A_"),
    ],
)
def test_wildcard_translation(query: str, text: str, like: str) -> None:
    pattern = parse_wildcard(query)
    assert (pattern.text, pattern.like) == (text, like)


@pytest.mark.parametrize(
    ("query", "plate", "expected"),
    [
        ("7353", "LOS7353", True),
        ("7353", "7353", True),
        ("7353", "735", False),
        ("AB?12*", "ABC12", True),
        ("AB?12*", "ABC12XYZ", True),
        ("AB?12*", "AB12", False),
        ("AB?12*", "XABC12", False),
        ("*99", "AB99", True),
        ("*99", "AB990", False),
    ],
)
def test_wildcard_matcher(query: str, plate: str, expected: bool) -> None:
    assert parse_wildcard(query).matches(plate) is expected


@pytest.mark.parametrize("query", ["", "*", "?*?", "--", "*" + "A" * 21 + "*"])
def test_wildcard_refuses_patterns_without_literals_or_too_long(query: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_wildcard(query)


@pytest.mark.parametrize(
    ("query", "indexable"),
    [("7353", True), ("*735*", True), ("AB*", True), ("*99", True), ("*7*", False), ("A?", False)],
)
def test_wildcard_indexable(query: str, indexable: bool) -> None:
    assert parse_wildcard(query).indexable is indexable


def _like_to_regex(like: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like)
    )


def test_wildcard_matcher_agrees_with_like_semantics() -> None:
    rng = random.Random(7)
    alphabet = "AB1*?"
    plates = ["".join(p) for n in range(1, 5) for p in product("AB1", repeat=n)]
    for _ in range(300):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
        if not query.strip("*?"):
            continue
        pattern = parse_wildcard(query)
        like = _like_to_regex(pattern.like)
        for plate in plates:
            assert pattern.matches(plate) == (like.fullmatch(plate) is not None), (query, plate)


# --- skeleton and distance --------------------------------------------------


def test_skeleton_sql_function_spells_the_python_mapping() -> None:
    text = next(m.sql for m in sql.migrations("postgres") if m.name == "plate_search")
    found = re.search(r"translate\(plate, '([^']+)', '([^']+)'\)", text)
    assert found is not None
    assert dict(zip(found[1], found[2], strict=True)) == OCR_SKELETON


def test_skeleton_collapses_confusions_only() -> None:
    assert plate_skeleton("B0S1ZG") == plate_skeleton("8O5IZ6") == plate_skeleton("BDSL26")
    assert plate_skeleton("AB") != plate_skeleton("A8X")
    assert plate_skeleton("AXEY") == "AXEY"


def test_substitution_costs() -> None:
    assert substitution_cost("A", "A") == 0
    assert substitution_cost("0", "O") == CONFUSION_COST
    assert substitution_cost("7", "T") == CONFUSION_COST
    assert substitution_cost("0", "8") == EDIT_COST
    assert substitution_cost("A", "X") == EDIT_COST


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("ABC123", "ABC123", 0.0),
        ("ABC123", "A8C123", 0.25),
        ("B0S", "8O5", 0.75),
        ("ABC123", "ABX123", 1.0),
        ("ABC123", "ABC12", 1.0),
        ("ABC123", "XABC123", 1.0),
        ("ABC123", "A8C12", 1.25),
        ("ABC123", "XBC12", 2.0),
    ],
)
def test_ocr_distance(a: str, b: str, expected: float) -> None:
    assert ocr_distance(a, b, 3.0) == expected
    assert ocr_distance(b, a, 3.0) == expected


def test_ocr_distance_is_bounded() -> None:
    assert ocr_distance("ABC123", "XYZ789", 2.0) is None
    assert ocr_distance("ABC", "ABCDEFG", 2.0) is None
    assert ocr_distance("ABC123", "ABC12", 0.5) is None
    assert ocr_distance("ABC123", "A8C123", 0.25) == 0.25


def _reference_distance(a: str, b: str) -> float:
    """Unbounded weighted Levenshtein, the textbook way, to check the fast one."""
    table = [[0.0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        for j in range(len(b) + 1):
            if i == 0 or j == 0:
                table[i][j] = (i + j) * EDIT_COST
            else:
                table[i][j] = min(
                    table[i - 1][j] + EDIT_COST,
                    table[i][j - 1] + EDIT_COST,
                    table[i - 1][j - 1] + substitution_cost(a[i - 1], b[j - 1]),
                )
    return table[-1][-1]


def test_bounded_distance_matches_reference_on_random_pairs() -> None:
    rng = random.Random(11)
    alphabet = "0OD8B5SAX1I"
    for _ in range(2000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        full = _reference_distance(a, b)
        assert ocr_distance(a, b, 2.0) == (full if full <= 2.0 else None), (a, b)


def test_candidate_keys_find_every_skeleton_within_one_edit() -> None:
    """The index holds each plate's skeleton and single deletions; a plate
    one plain edit (plus any confusions) away must share a key with the query."""
    rng = random.Random(3)
    alphabet = "ABCEFX0123456789OISZGBV"
    for _ in range(500):
        plate = "".join(rng.choice(alphabet) for _ in range(rng.randint(4, 8)))
        chars = list(plate)
        position = rng.randrange(len(chars))
        edit = rng.choice(["sub", "ins", "del"])
        if edit == "sub":
            chars[position] = rng.choice(alphabet)
        elif edit == "ins":
            chars.insert(position, rng.choice(alphabet))
        else:
            del chars[position]
        query = "".join(chars)
        indexed = deletions(plate_skeleton(plate), 1)
        assert indexed & set(candidate_keys(query, 1.0)), (plate, query)


def test_candidate_keys_cover_insertion_plus_substitution_at_distance_two() -> None:
    keys = set(candidate_keys("XABC1Z4", 2.0))  # "ABC124" with X inserted, 2 -> Z (a confusion)
    assert deletions(plate_skeleton("ABC124"), 1) & keys
    keys = set(candidate_keys("XABK124", 2.0))  # insertion + plain substitution
    assert deletions(plate_skeleton("ABC124"), 1) & keys


def test_deletions() -> None:
    assert deletions("ABC", 1) == {"ABC", "BC", "AC", "AB"}
    assert deletions("AAB", 1) == {"AAB", "AB", "AA"}
    assert len(deletions("ABCDEFG", 2)) == 1 + 7 + 21


def test_verify_keeps_only_plates_within_distance() -> None:
    scored = verify("ABC123", ["ABC123", "A8C123", "XYZ999", "ABC12"], 1.0)
    assert scored == {"ABC123": 0.0, "A8C123": 0.25, "ABC12": 1.0}


def test_rank_orders_by_cost_then_recency_then_reads() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def match(plate: str, score: float, age_h: int, reads: int) -> PlateMatch:
        seen = now - timedelta(hours=age_h)
        return PlateMatch(plate, score, seen, seen, reads, "US-FL", ())

    ranked = rank(
        [
            match("D", 1.0, 0, 9),
            match("C", 0.25, 5, 1),
            match("B", 0.25, 1, 1),
            match("A", 0.25, 1, 7),
            match("E", 0.0, 99, 1),
        ]
    )
    assert [m.plate for m in ranked] == ["E", "A", "B", "C", "D"]


def test_query_checks() -> None:
    assert exact_query(" abc-123 ") == "ABC123"
    assert fuzzy_query("abc 12") == "ABC12"
    with pytest.raises(InvalidRequest, match="letter or digit"):
        exact_query("--")
    with pytest.raises(InvalidRequest, match="3 or more"):
        fuzzy_query("ab")
    with pytest.raises(InvalidRequest):
        check_max_distance(4)
    with pytest.raises(InvalidRequest, match="before"):
        SearchFilter(since=datetime(2026, 1, 2, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC))


# --- GraphQL shapes ---------------------------------------------------------


def test_match_connection_page_info() -> None:
    from schema.graphql.matches import PlateMatchConnection
    from schema.paging import decode_rank

    now = datetime(2026, 1, 1, tzinfo=UTC)
    matches = [PlateMatch(p, 0.0, now, now, 1, "US-FL", ("c",)) for p in ("A", "B")]
    conn = PlateMatchConnection.from_matches(matches, 4, has_more=True, complete=True)
    assert [e.node.plate for e in conn.edges] == ["A", "B"]
    assert conn.page_info.has_next_page and conn.page_info.has_previous_page
    assert conn.page_info.end_cursor is not None
    assert decode_rank(conn.page_info.end_cursor, "after") == 6  # the next page starts at offset 6


def test_search_filter_input_is_checked() -> None:
    from schema.graphql.matches import PlateSearchFilter

    with pytest.raises(InvalidRequest, match="UTC offset"):
        PlateSearchFilter(since=datetime(2026, 1, 1)).to_filter()
    with pytest.raises(InvalidRequest, match="cameraId"):
        PlateSearchFilter(camera_id="x" * 51).to_filter()
    made = PlateSearchFilter(region="US-FL").to_filter()
    assert made == SearchFilter(region="US-FL")


def test_candidate_keys_meet_every_plate_within_two_plain_edits() -> None:
    """A query meets, through the index keys, every stored plate two plain
    edits (over A-Z0-9) away: all of them as stored plates, a sample as
    queries (each query builds its ~800 keys)."""
    rng = random.Random(41)
    for length in (5, 7):
        plate = random_plate(rng, length, length)
        keys = set(candidate_keys(plate, 2.0))
        once = plain_edits(plate)
        variants = once.union(*(plain_edits(v) for v in once))
        for variant in variants:
            assert deletions(plate_skeleton(variant), 1) & keys, (plate, variant)
        indexed = deletions(plate_skeleton(plate), 1)
        for variant in rng.sample(sorted(variants), 200):
            assert indexed & set(candidate_keys(variant, 2.0)), (plate, variant)
