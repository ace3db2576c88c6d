"""When a camera is silent: nothing for much longer than its own usual gap.

A camera's usual gap comes from its hourly rollups (sql/queries/gateway.sql
`camera_gaps`): the 95th percentile, over its active hours of the last
`HISTORY_HOURS`, of the time between reads those hours imply. A camera is
silent when the time since its last read exceeds `SILENT_FACTOR` times that
gap, and at least `SILENT_FLOOR_S` (a busy camera pausing for a minute is
not broken). With fewer than `MIN_ACTIVE_HOURS` active hours its usual gap
is not known and neither is whether it is silent (None). No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

HISTORY_HOURS: Final = 7 * 24
MIN_ACTIVE_HOURS: Final = 3
SILENT_FACTOR: Final = 4.0
SILENT_FLOOR_S: Final = 600.0


class _Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class CameraGap:
    """A camera's recent rhythm: active hours in the history, usual gap in seconds."""

    active_hours: int
    usual_gap_s: float

    @classmethod
    def by_camera(cls, rows: Iterable[_Row]) -> dict[str, CameraGap]:
        """The gaps of `camera_gaps` rows, by camera id."""
        return {row["camera_id"]: cls(row["active_hours"], row["usual_gap_s"]) for row in rows}

    @property
    def known(self) -> bool:
        return self.active_hours >= MIN_ACTIVE_HOURS


def silent_after(gap: CameraGap | None) -> float | None:
    """Seconds without a read after which the camera counts as silent; None if unknown."""
    if gap is None or not gap.known:
        return None
    return max(SILENT_FACTOR * gap.usual_gap_s, SILENT_FLOOR_S)


def is_silent(gap: CameraGap | None, quiet_for_s: float) -> bool | None:
    """Whether a camera quiet for `quiet_for_s` seconds is silent; None if unknown."""
    threshold = silent_after(gap)
    return None if threshold is None else quiet_for_s > threshold
