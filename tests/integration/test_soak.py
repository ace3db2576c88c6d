"""The fault soak, short: every kind of fault at least once while traffic flows.

Two ingestor processes, a topic of six partitions, 150 messages a second (5%
malformed, of ten kinds), ten faults (SIGKILL of an ingestor, broker
restart, PostgreSQL stopped and started, an ingestor added and one removed;
the first five take every kind), then the exact account of
`tests/support/soak.py`. `bench/soak.py` is the long version (100 faults).

It brings its own PostgreSQL and broker, since it stops and restarts them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest

from tests.support.soak import SoakConfig, SoakReport, run_soak
from tests.support.soak_traffic import MALFORMED

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(1500)]

CONFIG = SoakConfig(
    duration_s=75.0,
    rate=150.0,
    malformed_share=0.05,
    faults=10,
    seed=20261202,
    ingestors=2,
    partitions=6,
    fault_gap_s=(0.5, 3.0),
    postgres_down_s=(1.0, 5.0),
    broker_down_s=(0.0, 2.0),
    drain_timeout_s=420.0,
)


# The soak's log lines of this module's run: its timeline of faults.
TIMELINE: list[str] = []


@pytest.fixture(scope="module")
async def soak() -> AsyncIterator[SoakReport]:
    from tests.support import kafka_broker

    if os.environ.get(kafka_broker.BOOTSTRAP_ENV):
        pytest.skip("restarts a broker of its own; this machine may have no Kafka to run")
    report = await run_soak(CONFIG, log=TIMELINE.append)
    yield report
    # A run with findings keeps its work dir (the ingestors' and the
    # broker's logs); `account` names it.
    if not report.failures():
        shutil.rmtree(report.work_dir, ignore_errors=True)


def account(report: SoakReport) -> str:
    """What a failed assertion prints: the report, the timeline, where the logs are."""
    kept = "" if not report.failures() else f"\nlogs kept in {report.work_dir}"
    return "\n".join([report.format(), "timeline:", *TIMELINE]) + kept


def test_every_kind_of_fault_was_injected(soak: SoakReport) -> None:
    kinds = {fault.kind for fault in soak.faults}
    assert kinds == {"kill", "broker", "postgres", "add", "remove"}, account(soak)
    assert len(soak.faults) == CONFIG.faults


def test_traffic_flowed_and_was_drained(soak: SoakReport) -> None:
    # At least ten seconds' worth: sends stall while the broker is away.
    assert soak.reads.in_topic > 10 * CONFIG.rate, account(soak)
    assert soak.letters.expected > 0, account(soak)
    assert soak.lag_left == {}, account(soak)
    assert soak.acked_not_in_topic == 0, account(soak)


def test_every_good_read_stored_exactly_once(soak: SoakReport) -> None:
    reads = soak.reads
    assert (reads.lost, reads.doubled, reads.unexpected) == ([], {}, []), account(soak)
    assert reads.rows == reads.in_topic


def test_every_malformed_message_dead_lettered_with_its_reason(soak: SoakReport) -> None:
    letters = soak.letters
    assert letters.missing == [], account(soak)
    assert letters.unexpected == [], account(soak)
    assert letters.wrong == [], account(soak)
    assert set(letters.by_kind) == {m.kind for m in MALFORMED}, account(soak)


def test_no_dead_letter_twice(soak: SoakReport) -> None:
    assert soak.letters.repeated == {}, account(soak)


def test_rollups_equal_their_recomputation(soak: SoakReport) -> None:
    assert soak.rollups == {}, account(soak)


def test_ingestors_only_ended_when_told(soak: SoakReport) -> None:
    by_themselves = [e for e in soak.exits if not e.asked]
    assert by_themselves == [], account(soak)
    terms = [e for e in soak.exits if e.asked == "term"]
    assert terms and all(e.code == 0 for e in terms), account(soak)
