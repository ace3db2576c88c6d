"""The misreads a fuzzy entry accepts: exactly the texts within its cost,
each at its distance, cheapest first (checked against every short text)."""

from __future__ import annotations

import itertools

from gateway.hotlist_preview import ALPHABET, misreads
from schema.fuzzy import align
from schema.plate_match import ocr_distance


def _every_text_within(plate: str, max_cost: float) -> dict[str, float]:
    found = {}
    for length in range(1, len(plate) + int(max_cost) + 1):
        for chars in itertools.product(ALPHABET, repeat=length):
            text = "".join(chars)
            cost = ocr_distance(plate, text, max_cost)
            if cost is not None and text != plate:
                found[text] = cost
    return found


def test_exactly_the_texts_within_the_cost_cheapest_first() -> None:
    for plate, max_cost in (("8O", 1.0), ("B8", 0.5), ("M1", 1.25)):
        found, more = misreads(plate, max_cost, 100_000)
        assert not more
        assert dict(found) == _every_text_within(plate, max_cost)
        costs = [cost for _, cost in found]
        assert costs == sorted(costs)
        assert all(align(plate, text)[0] == cost for text, cost in found)


def test_a_limit_keeps_the_cheapest_and_says_there_are_more() -> None:
    every, _ = misreads("AB123", 1.0, 100_000)
    first, more = misreads("AB123", 1.0, 10)
    assert more and len(first) == 10
    assert max(cost for _, cost in first) <= min(cost for _, cost in every[10:])
