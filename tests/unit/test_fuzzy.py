"""The in-memory fuzzy and wildcard indexes, checked against brute force."""

from __future__ import annotations

import random

import pytest

from schema.errors import InvalidRequest
from schema.fuzzy import (
    Edit,
    EditKind,
    FuzzyIndex,
    WildcardIndex,
    _bit_masks,
    _plain_distance,
    align,
)
from schema.plate_match import ocr_distance, parse_wildcard
from tests.support.plate_variants import ALPHABET, every_variant, plain_edits, random_plate


def _background(rng: random.Random, count: int) -> FuzzyIndex[str]:
    index: FuzzyIndex[str] = FuzzyIndex()
    for n in range(count):
        index.add(f"bg{n}", random_plate(rng), rng.choice([0.25, 1.0, 1.5, 2.0, 3.0]))
    return index


def _assert_found(index: FuzzyIndex[str], key: str, plate: str, max_cost: float, read: str) -> None:
    hits = {hit.entry: hit for hit in index.lookup(read)}
    expected = ocr_distance(plate, read, max_cost)
    assert expected is not None, (plate, read)
    assert key in hits, (plate, read, max_cost)
    assert hits[key].cost == expected, (plate, read)
    assert sum(edit.cost for edit in hits[key].edits) == expected, (plate, read)
    for hit in hits.values():  # nothing beyond its own maximum either
        assert hit.cost == ocr_distance(hit.plate, read, 3.0)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 70,000 lookups at (5, 2.0): minutes on a busy host
@pytest.mark.parametrize(("length", "max_cost"), [(5, 2.0), (6, 1.75), (7, 1.25), (8, 1.0)])
def test_every_variant_within_the_maximum_cost_is_found_at_its_cost(
    length: int, max_cost: float
) -> None:
    rng = random.Random(length)
    index = _background(rng, 50)
    plate = random_plate(rng, length, length)
    index.add("entry", plate, max_cost)
    variants = every_variant(plate, max_cost)
    assert len(variants) > 500
    for variant in variants:
        _assert_found(index, "entry", plate, max_cost, variant)


@pytest.mark.parametrize(("length", "max_cost"), [(6, 2.0), (7, 2.0), (8, 2.0), (6, 3.0), (7, 3.0)])
def test_sampled_variants_of_longer_plates_and_larger_costs_are_found(
    length: int, max_cost: float
) -> None:
    """Every variant is too many here (200,000 at 8 characters and cost 2);
    a sample of the variants made of plain edits only, the dearest kind."""
    rng = random.Random(length * 10 + int(max_cost))
    index = _background(rng, 50)
    plate = random_plate(rng, length, length)
    index.add("entry", plate, max_cost)
    for _ in range(1500):
        read = plate
        for _ in range(int(max_cost)):
            read = rng.choice(sorted(plain_edits(read)))
        if ocr_distance(plate, read, max_cost) is not None:
            _assert_found(index, "entry", plate, max_cost, read)


def test_a_confusion_costs_a_quarter_and_says_which_character() -> None:
    index: FuzzyIndex[int] = FuzzyIndex()
    index.add(1, "BOB123", 2.0)
    [hit] = index.lookup("B0B123")
    assert (hit.entry, hit.plate, hit.cost) == (1, "BOB123", 0.25)
    assert hit.edits == (Edit(EditKind.CONFUSION, 1, 1, "O", "0", 0.25),)


def test_a_substitution_plus_a_deletion_on_the_entry_side() -> None:
    """Two deletions needed on the entry's side (plate search once missed it)."""
    index: FuzzyIndex[str] = FuzzyIndex()
    index.add("stolen", "NVSLDU4", 2.0)
    [hit] = index.lookup("SVSLU4")
    assert hit.cost == 2.0
    assert hit.edits == (
        Edit(EditKind.SUBSTITUTION, 0, 0, "N", "S", 1.0),
        Edit(EditKind.DELETION, 4, 4, "D", "", 1.0),
    )
    index.add("stolen", "NVSLDU4", 1.75)  # replaced: now out of reach
    assert index.lookup("SVSLU4") == []


def test_align_spells_insertions_and_deletions() -> None:
    assert align("ABC", "ABC") == (0.0, ())
    assert align("ABC", "XABC") == (1.0, (Edit(EditKind.INSERTION, 0, 0, "", "X", 1.0),))
    assert align("ABC", "ABCX") == (1.0, (Edit(EditKind.INSERTION, 3, 3, "", "X", 1.0),))
    assert align("ABC", "AC") == (1.0, (Edit(EditKind.DELETION, 1, 1, "B", "", 1.0),))
    cost, edits = align("ABC12", "A8CI2")
    assert cost == 0.5 and [e.kind for e in edits] == [EditKind.CONFUSION] * 2


def test_align_costs_the_ocr_distance_on_random_pairs() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        a, b = random_plate(rng, 0, 7), random_plate(rng, 0, 7)
        cost, edits = align(a, b)
        assert cost == ocr_distance(a, b, 99.0)
        assert sum(e.cost for e in edits) == cost
        assert _apply(a, edits) == b


def _apply(text: str, edits: tuple[Edit, ...]) -> str:
    chars = list(text)
    for edit in reversed(edits):  # from the end, so positions stay valid
        if edit.kind is EditKind.INSERTION:
            chars.insert(edit.position, edit.read)
        elif edit.kind is EditKind.DELETION:
            del chars[edit.position]
        else:
            assert chars[edit.position] == edit.expected
            chars[edit.position] = edit.read
    return "".join(chars)


def test_bit_parallel_distance_is_levenshtein() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        a, b = random_plate(rng, 0, 9), random_plate(rng, 0, 9)
        unweighted = _reference_levenshtein(a, b)
        assert _plain_distance(_bit_masks(a), len(a), b) == unweighted, (a, b)


def _reference_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[-1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_no_entry_beyond_its_own_maximum_on_random_reads() -> None:
    rng = random.Random(17)
    entries = {
        n: (random_plate(rng, 4, 7), rng.choice([0.0, 0.5, 1.0, 2.0, 3.0])) for n in range(150)
    }
    index: FuzzyIndex[int] = FuzzyIndex()
    for n, (plate, max_cost) in entries.items():
        index.add(n, plate, max_cost)
    for _ in range(300):
        read = random_plate(rng, 3, 8)
        expected = {
            n: cost
            for n, (plate, max_cost) in entries.items()
            if (cost := ocr_distance(plate, read, max_cost)) is not None
        }
        assert {hit.entry: hit.cost for hit in index.lookup(read)} == expected


def test_add_remove_and_refusals() -> None:
    index: FuzzyIndex[str] = FuzzyIndex()
    index.add("a", "ABC123", 1.0)
    index.add("b", "ABC124", 0.0)
    assert len(index) == 2 and "a" in index
    assert [hit.entry for hit in index.lookup("ABC124")] == ["b", "a"]
    index.remove("b")
    index.remove("never added")
    assert [hit.entry for hit in index.lookup("ABC124")] == ["a"]
    index.remove("a")
    assert len(index) == 0 and index.lookup("ABC124") == []
    with pytest.raises(InvalidRequest):
        index.add("c", "ABC123", 3.5)


# --- wildcard ---------------------------------------------------------------


def test_wildcard_index_agrees_with_each_pattern() -> None:
    rng = random.Random(23)
    index: WildcardIndex[int] = WildcardIndex()
    patterns = {}
    for n in range(400):
        text = "".join(rng.choice(ALPHABET[:6] + "0123?*") for _ in range(rng.randint(2, 7)))
        if not text.replace("*", "").replace("?", ""):
            continue
        index.add(n, text)
        patterns[n] = parse_wildcard(text)
    for _ in range(1500):
        read = "".join(rng.choice(ALPHABET[:6] + "0123") for _ in range(rng.randint(3, 8)))
        expected = {n for n, pattern in patterns.items() if pattern.matches(read)}
        assert set(index.lookup(read)) == expected


def test_wildcard_index_add_remove() -> None:
    index: WildcardIndex[str] = WildcardIndex()
    index.add("a", "AB?12*")
    index.add("b", "*7353")
    assert index.lookup("ABC12XYZ") == ["a"]
    assert index.lookup("LOS7353") == ["b"]
    assert index.pattern("a") == "AB?12*"
    index.remove("a")
    assert index.lookup("ABC12XYZ") == [] and len(index) == 1
    with pytest.raises(InvalidRequest):
        index.add("c", "*?*")


def test_a_change_after_lookups_is_seen_by_the_next_lookup() -> None:
    """Lookups remember plates and per-length plans; adding or removing an
    entry forgets both (an entry of a length never seen before included)."""
    index: FuzzyIndex[str] = FuzzyIndex()
    index.add("seven", "ABC1234", 1.0)
    assert index.lookup("XBC123") == []  # two plain edits from "seven"
    index.add("five", "BC123", 1.0)  # a length no entry had: one insertion from the read
    assert [hit.entry for hit in index.lookup("XBC123")] == ["five"]
    assert [hit.entry for hit in index.lookup("XBC123")] == ["five"]  # from the cache
    index.remove("five")
    assert index.lookup("XBC123") == []
    index.add("seven", "ABC1234", 2.0)  # replaced with a larger cost
    assert [(hit.entry, hit.cost) for hit in index.lookup("XBC123")] == [("seven", 2.0)]
