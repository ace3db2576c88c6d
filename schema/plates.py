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


def _skeleton_map() -> dict[str, str]:
    # Each class collapses to its smallest member (digits sort first), so the
    # mapping is stable and the SQL function alpr_plate_skeleton can spell it
    # as one translate() call; tests check the two agree.
    return {c: min(group) for group in OCR_CONFUSION_CLASSES for c in group if c != min(group)}


OCR_SKELETON: dict[str, str] = _skeleton_map()
_SKELETON_TABLE = str.maketrans(OCR_SKELETON)


def plate_skeleton(plate: str) -> str:
    """`plate` with each confusable character replaced by its class's
    representative: two plates that differ only by OCR confusions share it
    (`"B0S"` and `"8O5"` both give `"805"`)."""
    return plate.translate(_SKELETON_TABLE)
