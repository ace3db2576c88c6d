"""Plate text: normalization and the ways OCR confuses characters.

Normalization is the one key every table joins on: upper case, A-Z and 0-9
only. It is recomputed from the raw text on every write, because producers
send a `normalized_text` that is sometimes missing and sometimes wrong.
"""

from __future__ import annotations

import re

_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")

# Characters OCR engines mistake for each other, one class per line. A swap
# inside a class costs little in fuzzy search; any other edit costs more.
OCR_CONFUSION_CLASSES: tuple[frozenset[str], ...] = (
    frozenset("0ODQ"),
    frozenset("1IL T7".replace(" ", "")),
    frozenset("2Z"),
    frozenset("5S"),
    frozenset("6G"),
    frozenset("8B"),
    frozenset("UV"),
    frozenset("MNH"),
)


def normalize_plate(text: str) -> str:
    """Upper-case `text` and keep only A-Z and 0-9 (`"abc-123"` -> `"ABC123"`)."""
    return _NOT_ALNUM.sub("", text.upper())
