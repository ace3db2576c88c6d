"""The contract between the pipeline's steps, and back-pressure.

A step takes items with `submit`, which returns at once: either the step
has the item (it may hand it on to the next step now or later), or it
raises `MessageRejected` and has not taken it. The caller keeps a refused
item and submits it again once `MessageRejected.ready` is done; until then
it reads nothing more (the Kafka source pauses its partitions during an outage).
`poll` does what is due without waiting (a batch old enough is handed on)
and raises a failure of work already finished; `join` hands on everything
held and waits until all of it is done, then raises as `poll` does.

Failures are sticky: a step whose work failed raises the same error at every
later `poll`, `submit` and `join`, so whichever caller looks first, the
source ends with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

T_contra = TypeVar("T_contra", contravariant=True)
T = TypeVar("T")


class MessageRejected(Exception):
    """The step cannot take more now; submit again once `ready` is done."""

    def __init__(self, ready: asyncio.Future[Any]) -> None:
        super().__init__("back-pressure: submit again once the work in flight moves on")
        self.ready = ready


class Step(Protocol[T_contra]):
    """One stage of the pipeline."""

    def submit(self, item: T_contra) -> None:
        """Take `item`, or raise `MessageRejected` without taking it."""

    def poll(self) -> None:
        """Do what is due without waiting; raise a failure of finished work.

        Raises `MessageRejected` when something due cannot be handed on: the
        caller should wait for `ready` before reading more.
        """

    async def join(self) -> None:
        """Hand on everything held and wait until it is all done."""


async def submit_waiting(step: Step[T], item: T) -> None:
    """Submit `item`, waiting out back-pressure."""
    while True:
        try:
            step.submit(item)
            return
        except MessageRejected as exc:
            await asyncio.wait([exc.ready])


async def feed(step: Step[T], items: Iterable[T], slice_s: float | None = None) -> int:
    """Submit every item (waiting out back-pressure), then join; returns how many.

    For sources that push a known set of messages (an HTTP body, a file):
    when it returns, every item is written and committed. With `slice_s`,
    the event loop is given back at least that often while items are
    submitted (decoding is CPU work that another request may be waiting on).
    """
    count = 0
    due = time.monotonic() + (slice_s or 0.0)
    for item in items:
        try:
            step.submit(item)
        except MessageRejected:
            await submit_waiting(step, item)
        count += 1
        if slice_s is not None and count % 64 == 0 and time.monotonic() >= due:
            await asyncio.sleep(0)
            due = time.monotonic() + slice_s
    await step.join()
    return count
