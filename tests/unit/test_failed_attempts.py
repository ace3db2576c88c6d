"""Defect 8 (failed attempts): the per-address limit, its window, its bound."""

from __future__ import annotations

import pytest

from gateway.auth import FailedAttempts
from schema.errors import RateLimited


def test_an_address_is_limited_until_its_window_ends() -> None:
    now = [100.0]
    failures = FailedAttempts(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        failures.check("10.0.0.1")
        failures.note("10.0.0.1")
    with pytest.raises(RateLimited) as limited:
        failures.check("10.0.0.1")
    assert limited.value.retry_after == 60 and limited.value.reason == "rate_limited"
    failures.check("10.0.0.2")  # others are not
    now[0] = 159.0
    with pytest.raises(RateLimited) as limited:
        failures.check("10.0.0.1")
    assert limited.value.retry_after == pytest.approx(1.0)
    now[0] = 160.0
    failures.check("10.0.0.1")  # a new window
    failures.note("10.0.0.1")
    failures.check("10.0.0.1")


def test_the_table_of_addresses_is_bounded() -> None:
    failures = FailedAttempts(limit=1, window_s=60, max_clients=100, clock=lambda: 0.0)
    for i in range(10_000):
        failures.note(f"10.0.{i // 256}.{i % 256}")
    assert len(failures) == 100
    with pytest.raises(RateLimited):
        failures.check("10.0.39.15")  # the newest are kept
    failures.check("10.0.0.0")  # the oldest forgotten
