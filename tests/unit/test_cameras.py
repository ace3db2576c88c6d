"""The silent rule: k times the camera's usual gap, a floor, unknown without history."""

from __future__ import annotations

from schema.cameras import MIN_ACTIVE_HOURS, SILENT_FACTOR, SILENT_FLOOR_S, CameraGap, is_silent


def test_silent_past_k_usual_gaps() -> None:
    gap = CameraGap(active_hours=24, usual_gap_s=1800)
    assert is_silent(gap, SILENT_FACTOR * 1800 - 1) is False
    assert is_silent(gap, SILENT_FACTOR * 1800 + 1) is True


def test_a_busy_camera_gets_the_floor() -> None:
    gap = CameraGap(active_hours=24, usual_gap_s=2)
    assert is_silent(gap, SILENT_FLOOR_S - 1) is False
    assert is_silent(gap, SILENT_FLOOR_S + 1) is True


def test_unknown_without_enough_history() -> None:
    assert is_silent(None, 10**9) is None
    assert is_silent(CameraGap(MIN_ACTIVE_HOURS - 1, 60), 10**9) is None
    assert is_silent(CameraGap(MIN_ACTIVE_HOURS, 60), 10**9) is True
