"""Where queries read: the replica while it keeps up, else the primary.

`ReadRotation.current()` is the pool queries read from now. A background
check (`start`, every `ALPR_REPLICA_CHECK_INTERVAL_S`) measures the
replica's lag and takes it out of rotation when the lag passes
`ALPR_REPLICA_MAX_LAG_S` or the replica does not answer; it is put back once
it answers with a lag under half the limit (the gap keeps a replica hovering
at the limit from flapping). The switch is one attribute: a request that
already holds a pool finishes there.

How the lag is measured: by write-ahead-log positions, not timestamps. The
standby's own `now() - pg_last_xact_replay_timestamp()` grows on a caught-up
standby whenever the primary is idle, and comparing commit timestamps needs
`track_commit_timestamp` on the primary. Instead each check reads how far the
primary has written its WAL and how far the replica has replayed it, both as
byte positions of the one log a physical standby shares with its primary.
`lag_bytes` is the difference. `lag_seconds` is how long ago (by the
gateway's clock, at its checks) the primary first held WAL the replica has
still not replayed: zero when the replica has replayed everything the
primary had written, so an idle primary with a caught-up replica shows no
lag, while a replica whose replay stalls shows a lag growing with the clock
even when the primary writes once and then idles. It is measured to within
one check interval, and never overstated: the primary is read before the
replica.

A read database that is not a standby (a logical replica, a copy) shares no
log with the primary: it has no measurable lag, and stays in rotation while
it answers. When the primary does not answer, the lag cannot be measured and
the rotation stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from core.db import translated
from gateway import queries
from gateway.metrics import REPLICA_IN_ROTATION, REPLICA_LAG_BYTES, REPLICA_LAG_SECONDS
from schema.errors import StorageError
from sql import load_queries

log = logging.getLogger(__name__)

Q: Final = load_queries("replica")
# Samples of the primary's WAL position kept while the replica has not
# replayed them; past this many the oldest is kept (it sets the lag) and
# those after it are thinned.
MAX_SAMPLES: Final = 10_000

Status = Literal["ok", "lagging", "unavailable", "not configured"]


@dataclass
class WalSamples:
    """The primary's WAL positions the replica may not have replayed yet, with
    when the gateway saw each (monotonic seconds)."""

    limit: int = MAX_SAMPLES
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, at: float, written: int) -> None:
        """Note that the primary had written up to `written` at `at`."""
        if self.samples and written <= self.samples[-1][1]:
            return
        if len(self.samples) >= self.limit:
            del self.samples[1]
        self.samples.append((at, written))

    def lag(self, now: float, replayed: int) -> float:
        """Seconds since the primary first held WAL past `replayed`; 0 when
        the replica has replayed every position seen. Forgets what it replayed."""
        self.samples = [s for s in self.samples if s[1] > replayed]
        return max(0.0, now - self.samples[0][0]) if self.samples else 0.0


def in_rotation_next(was_in: bool, lag_s: float, max_lag_s: float) -> bool:
    """Whether a replica with this lag reads queries after a check: out above
    the limit, back in only under half of it."""
    return lag_s <= (max_lag_s if was_in else max_lag_s / 2)


@dataclass(frozen=True)
class ReplicaState:
    """The outcome of the last check, as `/health` shows it."""

    status: Status
    in_rotation: bool
    lag_seconds: float | None = None
    lag_bytes: int | None = None

    def describe(self) -> dict[str, Any]:
        lag = None if self.lag_seconds is None else round(self.lag_seconds, 3)
        return {
            "status": self.status,
            "in_rotation": self.in_rotation,
            "lag_seconds": lag,
            "lag_bytes": self.lag_bytes,
        }


NOT_CONFIGURED: Final = ReplicaState("not configured", in_rotation=False)
UNAVAILABLE: Final = ReplicaState("unavailable", in_rotation=False)


@translated
async def _wal_written(primary: queries.Db) -> int:
    written: int = await primary.fetchval(*Q["wal_written"].bind())
    return written


@translated
async def _wal_replayed(replica: queries.Db) -> tuple[bool, int | None]:
    row = await replica.fetchrow(*Q["wal_replayed"].bind())
    assert row is not None
    return row["standby"], row["replayed"]


class ReadRotation:
    """The primary, the replica if configured, and which of them queries read.

    `connect_replica` opens the replica's pool; it is called by the checks
    until it succeeds, so a gateway starts (reading the primary) while its
    replica is down. A change of rotation is logged with its reason.
    """

    def __init__(
        self,
        primary: queries.Db,
        connect_replica: Callable[[], Coroutine[Any, Any, queries.Db]] | None = None,
        max_lag_s: float = 10.0,
        interval_s: float = 1.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.primary = primary
        self.replica: queries.Db | None = None
        self.last_check = NOT_CONFIGURED if connect_replica is None else UNAVAILABLE
        self._connect_replica = connect_replica
        self._max_lag_s = max_lag_s
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._samples = WalSamples()
        self._current = primary
        self._task: asyncio.Task[None] | None = None

    def current(self) -> queries.Db:
        """The pool queries read from now."""
        return self._current

    async def start(self) -> None:
        """Check once (so the first request already reads the right pool),
        then keep checking in the background. Nothing to do without a replica."""
        if self._connect_replica is None:
            return
        await self.check()
        self._task = asyncio.create_task(self._run(), name="alpr-replica-check")

    async def stop(self) -> None:
        """Stop checking and close the replica's pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.replica is not None:
            await self.replica.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except Exception:  # a fault here must not end the checks for good
                log.exception("replica check failed")

    async def check(self) -> None:
        """Measure the replica once and put it in or out of rotation."""
        written = await self._primary_position()
        try:
            async with asyncio.timeout(self._timeout_s):
                standby, replayed = await self._replica_position()
        except (StorageError, TimeoutError) as exc:
            self._settle(UNAVAILABLE, f"it does not answer: {str(exc) or type(exc).__name__}")
            return
        if not standby or replayed is None:
            self._settle(ReplicaState("ok", in_rotation=True), "it is not a standby")
        elif written is not None:
            self._measured(written, replayed)

    async def _primary_position(self) -> int | None:
        """The primary's written WAL position, noted as a sample; None when it
        does not answer (the replica's lag is then unknown)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                written = await _wal_written(self.primary)
        except (StorageError, TimeoutError):
            return None
        self._samples.add(time.monotonic(), written)
        return written

    async def _replica_position(self) -> tuple[bool, int | None]:
        if self.replica is None:
            assert self._connect_replica is not None
            self.replica = await translated(self._connect_replica)()
        return await _wal_replayed(self.replica)

    def _measured(self, written: int, replayed: int) -> None:
        lag_s = self._samples.lag(time.monotonic(), replayed)
        in_rotation = in_rotation_next(self.last_check.in_rotation, lag_s, self._max_lag_s)
        state = ReplicaState(
            "ok" if in_rotation else "lagging",
            in_rotation,
            lag_seconds=lag_s,
            lag_bytes=max(0, written - replayed),
        )
        self._settle(state, f"its lag is {lag_s:.1f} s (limit {self._max_lag_s:g} s)")

    def _settle(self, state: ReplicaState, reason: str) -> None:
        if state.in_rotation != self.last_check.in_rotation:
            if state.in_rotation:
                log.info("read replica back in rotation: %s", reason)
            else:
                log.warning("read replica out of rotation, queries read the primary: %s", reason)
        self.last_check = state
        self._current = self.replica if state.in_rotation and self.replica else self.primary
        REPLICA_IN_ROTATION.set(1 if state.in_rotation else 0)
        REPLICA_LAG_SECONDS.set(math.nan if state.lag_seconds is None else state.lag_seconds)
        REPLICA_LAG_BYTES.set(math.nan if state.lag_bytes is None else state.lag_bytes)
