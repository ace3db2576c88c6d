"""The ingest pipeline's steps one by one, without I/O."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, timedelta, timezone

import orjson
import pytest

from ingestor.pipeline.batch import Batch
from ingestor.pipeline.deadletter import headers
from ingestor.pipeline.decode import decode
from ingestor.pipeline.message import INVALID_EVENT, DeadLetter, Message, Parsed
from ingestor.publish import encode
from ingestor.simulate import MALFORMED_KINDS, Simulation, SimulationConfig
from ingestor.sources.http import messages as body_messages
from ingestor.writer import WriteResult, _distinct, _PartitionDays
from schema.events import PlateEvent, decode_event, event_from_dict
from schema.plates import normalize_plate
from tests.factories import wire_event


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _message(offset: int, value: bytes | None = None, partition: int = 0) -> Message:
    return Message(
        value=value if value is not None else orjson.dumps(wire_event()),
        key=b"camera-01",
        topic="t",
        partition=partition,
        offset=offset,
        timestamp_ms=1_700_000_000_000,
    )


def test_decode_good_and_bad() -> None:
    assert isinstance(decode(_message(0)), PlateEvent)
    bad = decode(_message(1, orjson.dumps(wire_event(plate__confidence=7))))
    assert isinstance(bad, DeadLetter)
    assert bad.code == INVALID_EVENT and bad.reason.startswith("plate.confidence:")
    tombstone = decode(Message(value=None, offset=2))
    assert isinstance(tombstone, DeadLetter) and "tombstone" in tombstone.reason


def test_batch_closes_on_size() -> None:
    batch = Batch(max_size=3, max_age_s=10, clock=Clock())
    for i in range(2):
        batch.add(_message(i), decode(_message(i)))
    assert not batch.due() and batch.room == 1
    batch.add(_message(2), decode(_message(2)))
    assert batch.due() and batch.room == 0


def test_batch_closes_on_age_from_first_message() -> None:
    clock = Clock()
    batch = Batch(max_size=100, max_age_s=0.2, clock=clock)
    clock.now += 5
    assert not batch.due()  # empty: never due, however long
    assert batch.age_left_s() == 0.2
    batch.add(_message(0), decode(_message(0)))
    clock.now += 0.15
    assert not batch.due() and batch.age_left_s() == pytest.approx(0.05)
    clock.now += 0.06
    assert batch.due()


def test_batch_offsets_cover_dead_letters_too() -> None:
    batch = Batch(max_size=10, max_age_s=1, clock=Clock())
    messages = [_message(5), _message(6, b"{bad"), _message(9, partition=1)]
    for m in messages:
        batch.add(m, decode(m))
    # The next offset to read per partition: the dead letter at 6 is consumed too.
    assert batch.next_offsets == {("t", 0): 7, ("t", 1): 10}
    assert len(batch.events) == 2 and len(batch.dead) == 1
    assert batch.message_of(batch.events[1]) is messages[2]
    assert len(batch.fresh()) == 0


def test_dead_letter_headers() -> None:
    letter = DeadLetter(_message(41), INVALID_EVENT, "plate.text: required field is missing")
    got = dict(headers(letter))
    assert got == {
        "reason": b"plate.text: required field is missing",
        "reason_code": b"invalid_event",
        "original_topic": b"t",
        "original_partition": b"0",
        "original_offset": b"41",
        "original_timestamp": b"1700000000000",
    }


def test_write_result_adds_up() -> None:
    a = WriteResult(2, 1, (1,))
    b = WriteResult(3, 0, (2,))
    assert a + b == WriteResult(5, 1, (1, 2))


def test_body_shapes() -> None:
    one = orjson.dumps(wire_event())
    [single] = body_messages(one)
    assert isinstance(single.value, Parsed) and single.value.value["camera_id"] == "camera-01"
    array = orjson.dumps([wire_event(), wire_event()])
    assert [m.offset for m in body_messages(array)] == [0, 1]
    ndjson = b"\n".join([one, b"", b"{broken", one]) + b"\n"
    lines = list(body_messages(ndjson))
    assert [m.value for m in lines] == [one, b"{broken", one]
    assert [m.offset for m in lines] == [0, 1, 2]  # the index among the items, blanks skipped


def test_publish_encoding_round_trips_and_keys_by_camera() -> None:
    event = event_from_dict(wire_event(camera_id="cam-9"))
    value, key = encode(event)
    assert key == b"cam-9"
    assert decode_event(value) == event


def test_simulation_is_realistic_and_reproducible() -> None:
    config = SimulationConfig(cameras=4, sites=2, plates=200, ocr_noise=0.1, seed=7)
    events = [Simulation(config).event() for _ in range(1)]
    again = [Simulation(config).event() for _ in range(1)]
    assert events[0]["event_id"] == again[0]["event_id"]  # same seed, same stream

    sim = Simulation(config)
    reads = [event_from_dict(sim.event()) for _ in range(3000)]
    plates = Counter(r.plate_normalized_text for r in reads)
    top = plates.most_common(1)[0][1]
    assert top > 3000 / 200 * 3  # repeat visits: the busiest plate far above average
    assert len({r.camera_id for r in reads}) == 4
    assert {r.site_id for r in reads} == {"site-00", "site-01"}
    pool = {normalize_plate(p) for p in sim.plates}
    misread = sum(r.plate_normalized_text not in pool for r in reads)
    assert 0.03 * 3000 < misread < 0.2 * 3000  # OCR noise near the configured share


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_is_rejected(kind: str) -> None:
    sim = Simulation(SimulationConfig(seed=1))
    assert isinstance(decode(Message(sim.malformed(kind))), DeadLetter)


def test_malformed_share() -> None:
    sim = Simulation(SimulationConfig(malformed=0.2, seed=3))
    results = [decode(Message(v)) for v, _ in itertools.islice(sim.messages(), 2000)]
    bad = sum(isinstance(r, DeadLetter) for r in results)
    assert 300 < bad < 500


def test_stats_summary() -> None:
    from ingestor.metrics import Stats

    stats = Stats()
    stats.record_consumed("unit", 10)
    stats.record_batch("unit", stored=7, duplicates=2, seconds=0.05)
    stats.record_batch("unit", stored=0, duplicates=0, seconds=0.15)
    stats.record_dead("unit", INVALID_EVENT)
    summary = stats.summary()
    assert (summary["consumed"], summary["stored"], summary["duplicates"]) == (10, 7, 2)
    assert (summary["dead_lettered"], summary["batches"]) == (1, 2)
    assert summary["batch_ms_avg"] == 100.0 and summary["batch_ms_max"] == 150.0


def test_partition_days_are_utc_days() -> None:
    days = _PartitionDays()
    late = event_from_dict(wire_event(captured_at="2026-11-27T23:30:00-05:00"))
    early = event_from_dict(wire_event(captured_at="1969-12-31T23:59:59Z"))
    assert days.missing([late, early]) == [date(1969, 12, 31), date(2026, 11, 28)]
    days.known.add(date(2026, 11, 28))
    assert days.missing([late]) == []


def test_distinct_keeps_the_first_read_of_each_id_and_refuses_other_content() -> None:
    first = event_from_dict(wire_event())
    repeat = first.model_copy()
    other_time = first.model_copy(update={"captured_at": first.captured_at + timedelta(hours=1)})
    other_plate = first.model_copy(update={"plate_text": "XYZ-9", "roi": None})
    kept, refused = _distinct([first, repeat, other_time, other_plate])
    assert kept == [first]
    assert [r.event for r in refused] == [other_time, other_plate]
    assert {r.code for r in refused} == {"conflicting_duplicate"}
    stored_at = first.captured_at.astimezone(UTC).isoformat()
    assert refused[0].reason == (
        f"conflicting duplicate: event_id {first.event_id} already stored with "
        f"captured_at {stored_at}; differs in captured_at"
    )
    assert refused[1].reason.endswith("differs in plate_text, roi")
    # The same instant written with another offset is the same read.
    shifted = first.model_copy(
        update={"captured_at": first.captured_at.astimezone(timezone(timedelta(hours=5)))}
    )
    assert _distinct([first, shifted]) == ([first], [])
    unique = [event_from_dict(wire_event()), event_from_dict(wire_event())]
    assert _distinct(unique)[0] is unique
