"""The replica's lag from WAL positions (zero when caught up, however idle the
primary), and when it reads queries."""

from __future__ import annotations

from gateway.replica import WalSamples, in_rotation_next


def test_a_caught_up_replica_of_an_idle_primary_never_lags() -> None:
    samples = WalSamples()
    for second in range(100):
        samples.add(float(second), 500)
        assert samples.lag(float(second), replayed=500) == 0.0


def test_a_stalled_replay_lags_by_the_age_of_the_oldest_position_it_lacks() -> None:
    samples = WalSamples()
    samples.add(0.0, 100)
    assert samples.lag(0.0, replayed=100) == 0.0
    samples.add(1.0, 200)  # the primary writes once, then idles
    for second in range(2, 10):
        samples.add(float(second), 200)
        assert samples.lag(float(second), replayed=100) == second - 1.0


def test_replaying_part_of_the_backlog_shortens_the_lag_to_what_is_left() -> None:
    samples = WalSamples()
    for second, written in enumerate([100, 200, 300, 400]):
        samples.add(float(second), written)
    assert samples.lag(10.0, replayed=50) == 10.0
    assert samples.lag(10.0, replayed=250) == 8.0  # lacks what was written at 2 s
    assert samples.lag(10.0, replayed=400) == 0.0
    assert samples.samples == []


def test_a_replica_ahead_of_the_sample_does_not_lag() -> None:
    # The primary is read first: by the time the replica answers it may have
    # replayed more than the primary had written then.
    samples = WalSamples()
    samples.add(0.0, 100)
    assert samples.lag(0.5, replayed=180) == 0.0


def test_a_full_history_keeps_its_oldest_sample() -> None:
    samples = WalSamples(limit=3)
    for second in range(10):
        samples.add(float(second), 100 * (second + 1))
    assert len(samples.samples) == 3
    assert samples.lag(20.0, replayed=0) == 20.0


def test_a_replica_leaves_above_the_limit_and_returns_under_half_of_it() -> None:
    assert in_rotation_next(True, 10.0, max_lag_s=10.0)
    assert not in_rotation_next(True, 10.1, max_lag_s=10.0)
    assert not in_rotation_next(False, 9.0, max_lag_s=10.0)  # no flapping at the limit
    assert not in_rotation_next(False, 5.1, max_lag_s=10.0)
    assert in_rotation_next(False, 5.0, max_lag_s=10.0)
