"""Every variant of a plate within an OCR cost: the oracle of the
completeness tests of fuzzy matching (tests/unit/test_fuzzy.py,
tests/integration/test_plate_search_complete.py)."""

from __future__ import annotations

import random
import string
from itertools import combinations, product

from schema.plate_match import CONFUSION_COST, EDIT_COST
from schema.plates import OCR_CONFUSION_CLASSES

ALPHABET = string.ascii_uppercase + string.digits
_LOOK_ALIKES = {c: sorted(group - {c}) for group in OCR_CONFUSION_CLASSES for c in group}


def random_plate(rng: random.Random, low: int = 5, high: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(low, high)))


def plain_edits(text: str) -> set[str]:
    """Every string one substitution, insertion or deletion from `text`."""
    found = set()
    for i in range(len(text) + 1):
        for c in ALPHABET:
            found.add(text[:i] + c + text[i:])
            if i < len(text):
                found.add(text[:i] + c + text[i + 1 :])
        if i < len(text):
            found.add(text[:i] + text[i + 1 :])
    found.discard(text)
    return found


def _confusions(text: str, most: int) -> set[str]:
    """`text` with up to `most` characters swapped for a look-alike."""
    found = {text}
    confusable = [i for i, c in enumerate(text) if c in _LOOK_ALIKES]
    for k in range(1, min(most, len(confusable)) + 1):
        for positions in combinations(confusable, k):
            for swaps in product(*(_LOOK_ALIKES[text[p]] for p in positions)):
                chars = list(text)
                for p, c in zip(positions, swaps, strict=True):
                    chars[p] = c
                found.add("".join(chars))
    return found


def every_variant(plate: str, max_cost: float) -> set[str]:
    """Every string a sequence of edits costing at most `max_cost` makes
    from `plate`: plain edits (1 each) over A-Z0-9, then look-alike swaps
    (0.25 each) of the characters left. A swap before a plain edit of the
    same character is that plain edit; elsewhere edits commute."""
    plain = [{plate}]
    for _ in range(int(max_cost // EDIT_COST)):
        plain.append(set().union(*(plain_edits(s) for s in plain[-1])))
    found: set[str] = set()
    for edits, strings in enumerate(plain):
        swaps = int((max_cost - edits * EDIT_COST) // CONFUSION_COST)
        for s in strings:
            found |= _confusions(s, swaps)
    return found
