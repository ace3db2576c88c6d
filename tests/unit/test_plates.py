from __future__ import annotations

import pytest

from schema.plates import OCR_CONFUSION_CLASSES, normalize_plate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("abc-123", "ABC123"), ("AB 12 CD", "AB12CD"), ("", ""), ("--", ""), ("x\u00e9y", "XY")],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_plate(raw) == expected


def test_confusion_classes_are_disjoint_and_normalized() -> None:
    seen: set[str] = set()
    for group in OCR_CONFUSION_CLASSES:
        assert not group & seen
        assert all(normalize_plate(c) == c for c in group)
        seen |= group
    assert {"0", "O", "8", "B", "5", "S", "1", "I"} <= seen
