"""The soak's account of dead letters (tests/support/soak_check.py), on records
made here: what a letter names as its origin, and which malformed messages
count as never dead-lettered."""

from __future__ import annotations

from tests.support.soak_check import Record, Truth, check_letters, letter_origin
from tests.support.soak_traffic import BAD_KEY_PREFIX, MALFORMED

TOPIC = "soak-x"
KIND = MALFORMED[0]


def _bad(partition: int, offset: int) -> Record:
    key = BAD_KEY_PREFIX + f"{KIND.kind}:{partition}-{offset}".encode()
    return Record(partition, offset, 0, key, b"bad", {})


def _letter(source: Record, dlq_offset: int) -> Record:
    headers = {
        "original_topic": TOPIC,
        "original_partition": str(source.partition),
        "original_offset": str(source.offset),
        "reason": KIND.reason,
        "reason_code": "invalid_event",
    }
    return Record(0, dlq_offset, 0, source.key, source.value, headers)


def test_a_letter_names_its_origin_by_its_headers() -> None:
    assert letter_origin(_letter(_bad(5, 118), 0)) == (5, 118)
    assert letter_origin(Record(0, 0, 0, None, None, {"original_partition": "5"})) is None
    headers = {"original_partition": "5", "original_offset": "x"}
    assert letter_origin(Record(0, 0, 0, None, None, headers)) is None


def test_a_malformed_message_without_a_committed_letter_is_missing() -> None:
    sources = [_bad(5, 0), _bad(5, 1), _bad(1, 16)]
    verdict = check_letters(Truth.of(sources), [_letter(sources[1], 0)], TOPIC)
    assert [origin for origin, _ in verdict.missing] == [(1, 16), (5, 0)]
    assert verdict.wrong == [] and verdict.unexpected == [] and verdict.repeated == {}
