"""Failed authentication attempts per client address, bounded in memory.

The gateway's state holds one `FailedAttempts`; `gateway.auth` notes each
guess at a secret (an unknown, revoked or expired key) and refuses a client
that used up its window with `RateLimited`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from schema.errors import RateLimited


class FailedAttempts:
    """Wrong keys per client address, in fixed windows; at most `max_clients` tracked
    (the oldest window is forgotten first)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, client: str | None) -> None:
        """Raise `RateLimited` when `client` used up its failures for this window."""
        window = self._windows.get(client or "")
        if window is None:
            return
        left = window[0] + self.window_s - self._clock()
        if left <= 0:
            del self._windows[client or ""]
        elif window[1] >= self.limit:
            raise RateLimited(left)

    def note(self, client: str | None) -> None:
        """Count one failure of `client`."""
        now = self._clock()
        started, count = self._windows.pop(client or "", (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        self._windows[client or ""] = (started, count + 1)
        while len(self._windows) > self.max_clients:
            self._windows.popitem(last=False)
