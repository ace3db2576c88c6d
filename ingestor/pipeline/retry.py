"""Retrying transient failures: capped exponential backoff until told to give up.

The database or the broker being unreachable (`StorageUnavailable`,
`BrokerUnavailable`) is retried without end while the source runs normally;
`retrying` tells the source an outage is going on (the Kafka source pauses
its partitions then).
A source that must let go (partitions being revoked, the process stopping)
calls `give_up_after(seconds)`: from then on a failed attempt past that time
raises `GaveUp` instead of sleeping, and sleepers wake to check at once.
Any other error propagates unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from ingestor import metrics
from schema.errors import BrokerUnavailable, StorageUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT: Final = (StorageUnavailable, BrokerUnavailable)


class GaveUp(Exception):
    """A transient failure outlasted the time the source could wait."""


class Backoff:
    """Retries transient failures, sleeping 0.1 s doubling up to `max_backoff_s`."""

    def __init__(self, max_backoff_s: float = 5.0) -> None:
        self.max_backoff_s = max_backoff_s
        self._deadline: float | None = None
        self._moved = asyncio.Event()
        self._failing = 0  # calls between a transient failure and their end

    @property
    def retrying(self) -> bool:
        """Whether some call is retrying a transient failure now."""
        return self._failing > 0

    def give_up_after(self, seconds: float) -> None:
        """Stop retrying `seconds` from now; sleeping retries check at once."""
        self._deadline = time.monotonic() + seconds
        self._moved.set()
        self._moved = asyncio.Event()

    def keep_trying(self) -> None:
        """Retry without end again."""
        self._deadline = None

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """`await operation()`, retried while it fails transiently; `GaveUp` past the deadline."""
        failed = False

        def before_sleep(retry_state: Any) -> None:
            nonlocal failed
            if not failed:
                failed = True
                self._failing += 1
            log_retry(retry_state)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TRANSIENT),
            wait=wait_exponential_jitter(multiplier=0.1, max=self.max_backoff_s, jitter=0.1),
            stop=self._past_deadline,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await operation()
        except TRANSIENT as exc:
            raise GaveUp(str(exc)) from exc
        finally:
            if failed:
                self._failing -= 1
        raise AssertionError("unreachable")  # pragma: no cover

    def _past_deadline(self, retry_state: Any) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    async def _sleep(self, seconds: float) -> None:
        if self._deadline is not None:  # no sleeping past it: one last attempt there
            seconds = min(seconds, max(self._deadline - time.monotonic(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._moved.wait(), seconds)


def log_retry(retry_state: Any) -> None:
    """Count and log a retry (tenacity's `before_sleep`)."""
    metrics.STORAGE_RETRIES.inc()
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning("storage or broker unavailable, retrying: %s", error)
