"""Waiting in a test for a condition that other processes make true."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def until(
    check: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.05
) -> Any:
    """`check()`'s first truthy result, polled every `interval` s; fails after `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(interval)
    return found
