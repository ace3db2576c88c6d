"""The fast decoding path against the exact one: same events, same errors.

`decode_event` and `event_from_dict` first try `_fast_event` and fall back to
validating through `PlateEvent` itself. Each test here decodes the same input
twice, once as shipped and once with the fast path switched off, and asserts
the two outcomes are identical: the same event (field values, their types and
reprs, the fields that were set) or the same `InvalidEvent` field and reason.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import field_validator, model_validator

from ingestor.simulate import Simulation, SimulationConfig
from schema import events
from schema.errors import InvalidEvent
from schema.events import PlateEvent, decode_event, event_from_dict
from schema.pydantic_internals import fields_validator
from tests.factories import DELETE, wire_event

BERLIN = ZoneInfo("Europe/Berlin")


def _outcome(decode: Callable[..., PlateEvent], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        event = decode(*args, **kwargs)
    except InvalidEvent as exc:
        return ("invalid", exc.field, exc.reason)
    values = [(k, type(v), repr(v)) for k, v in event.__dict__.items()]
    return (
        type(event),
        values,
        event.__pydantic_fields_set__,
        event.__pydantic_extra__,
        event.__pydantic_private__,
    )


def _assert_same(decode: Callable[..., PlateEvent], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    fast = _outcome(decode, *args, **kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events, "_fast_event", lambda *_: None)
        exact = _outcome(decode, *args, **kwargs)
    assert fast == exact
    return fast


def _payloads(seed: int, count: int) -> Iterator[bytes]:
    sim = Simulation(SimulationConfig(cameras=8, plates=500, malformed=0.3, seed=seed))
    return (value for value, _ in itertools.islice(sim.messages(), count))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("zone", [None, BERLIN])
def test_simulated_traffic_decodes_the_same(seed: int, zone: tzinfo | None) -> None:
    outcomes = [_assert_same(decode_event, p, naive_timezone=zone) for p in _payloads(seed, 700)]
    kinds = {o[0] for o in outcomes}
    assert PlateEvent in kinds and "invalid" in kinds  # both kinds were compared


def _flat(**changes: Any) -> dict[str, Any]:
    flat = event_from_dict(wire_event()).model_dump(mode="json")
    flat.update(changes)
    return {k: v for k, v in flat.items() if v is not DELETE}


# Inputs at the edges of each rule, in the nested shape (`group__key`), the
# flat one, and mixtures of the two.
EDGE_CASES: list[dict[str, Any]] = [
    wire_event(),
    _flat(),
    _flat(plate_region=None, plate_normalized_text=DELETE, vehicle_make=None),
    wire_event(plate_text="FLAT-1"),  # top level loses to plate.text
    wire_event(plate__text=DELETE, plate_text="FLAT-1"),  # nested but the column flat
    wire_event(plate="ABC", plate_text="FLAT-1", plate_confidence=0.5),
    wire_event(vehicle="car", vehicle_type="van"),
    wire_event(images=["a"], node=7, extras=None, plate_image_url="u"),
    _flat(plate={"text": "NEST-1"}),
    _flat(vehicle={}, vehicle_make="flat-make"),
    {"plate": {"text": "X1"}},
    {},
    wire_event(firmware=float("inf"), plate__ocr="x"),
    *(
        wire_event(captured_at=t)
        for t in [
            "2025-12-16T14:03:07Z",
            "2025-12-16T14:03:07.1234567+05:30",
            "2025-12-16T14:03:07-00:00",
            "2025-12-16 14:03:07Z",
            "2025-12-16T14:03:07",
            "2025-12-16",
            "1765893787",
            "1765893787.5",
            "yesterday",
            "",
            1765893787,
            1765893787.5,
            True,
            None,
            ["2025-12-16T14:03:07Z"],
        ]
    ),
    *(
        wire_event(event_id=e)
        for e in [
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "urn:uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            12345,
            None,
        ]
    ),
    *(
        wire_event(plate__text=t)
        for t in ["ß", "\u017f", "ǆ", " - ", "Ö1x", "A" * 20, "A" * 21, "", 7, None]
    ),
    *(wire_event(plate__normalized_text=n) for n in [None, 7, ["x"], {"a": 1}, "", "N" * 99]),
    *(wire_event(plate__region=r) for r in [None, "", " ", "R" * 10, "R" * 11, 5, False, ["US"]]),
    *(
        wire_event(plate__confidence=c)
        for c in [
            0,
            1,
            1.0,
            0.0,
            -0.0,
            1.0000001,
            "0.5",
            " 0.5 ",
            True,
            False,
            None,
            "nan",
            "1e400",
            2**64,
            "0x1",
        ]
    ),
    *(
        wire_event(latency_ms=n)
        for n in [
            0,
            2**31 - 1,
            2**31,
            -1,
            4.0,
            4.5,
            "45",
            " 45 ",
            "4.0",
            True,
            None,
            2**70,
            "1_000",
        ]
    ),
    *(wire_event(extras__frame_number=n) for n in [0, 2**31 - 1, "7", 7.0, False]),
    *(wire_event(extras__quality_score=q) for q in [None, 0, "0.8", True, 2**70, -5.5, "inf"]),
    *(wire_event(camera_id=c) for c in ["c" * 50, "c" * 51, "", " ", 7, None, "kamera-\u00e9"]),
    *(wire_event(vehicle__color=c) for c in ["c" * 30, "c" * 31, 3, None]),
    *(wire_event(node__host=h) for h in ["h" * 100, "h" * 101, 0]),
]

# NUL in every column, and where nothing reads it.
NUL_CASES: list[dict[str, Any]] = [
    *(wire_event(**{k: f"{v}\x00"}) for k, v in wire_event().items() if isinstance(v, str)),
    *(
        wire_event(**{f"{group}__{key}": f"{value}\x00"})
        for group, part in wire_event().items()
        if isinstance(part, dict)
        for key, value in part.items()
    ),
    wire_event(latency_ms="45\x00", extras__frame_number="7\x00", extras__quality_score="0.5\x00"),
    wire_event(plate__confidence="0.5\x00"),
    wire_event(captured_at="2025-12-16T14:03:07Z\x00"),
    wire_event(firmware="\x00"),
    _flat(camera_id="cam\x00", plate_confidence=7),
    _flat(plate_region="\x00"),
]


@pytest.mark.parametrize("message", EDGE_CASES + NUL_CASES)
@pytest.mark.parametrize("zone", [None, BERLIN])
def test_edge_cases_decode_the_same(message: dict[str, Any], zone: tzinfo | None) -> None:
    # json escapes non-ASCII and writes Infinity (which orjson refuses);
    # orjson writes UTF-8 and has no big integers.
    payloads = [json.dumps(message).encode()]
    with contextlib.suppress(TypeError):
        payloads.append(orjson.dumps(message))
    for payload in payloads:
        _assert_same(decode_event, payload, naive_timezone=zone)
        _assert_same(decode_event, payload.decode(), naive_timezone=zone)
    _assert_same(event_from_dict, message, naive_timezone=zone)
    _assert_same(event_from_dict, message, naive_timezone=zone, check_nul=False)


class _Text(str):
    """A str subclass, as Python callers (not JSON) may pass."""


class _Group(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class _Message(dict[str, Any]):
    """A dict whose .items() hides the top level from the exact path's flatten."""

    def items(self) -> Any:
        return {}.items()


# What only Python callers of event_from_dict can pass.
PYTHON_CASES: list[Any] = [
    wire_event(captured_at=datetime(2025, 12, 16, 14, 3, 7, tzinfo=UTC)),
    wire_event(captured_at=datetime(2025, 12, 16, 14, 3, 7)),
    wire_event(captured_at=_Text("2025-12-16T14:03:07Z")),
    wire_event(plate=defaultdict(str, {"confidence": 0.5}), plate_text="FLAT-1"),
    wire_event(plate=_Group({"confidence": 0.5}), plate_text="FLAT-1"),
    wire_event(vehicle=_Group({"make": "m" * 51})),
    wire_event(camera_id=_Text("cam\x00")),
    wire_event(plate__normalized_text=_Text("\x00")),
    wire_event(plate__text=b"AB\x00C"),
    wire_event(track_id=b"t-1"),
    _Message(wire_event()),
    [wire_event()],
    None,
    "{}",
]


@pytest.mark.parametrize("message", PYTHON_CASES)
@pytest.mark.parametrize("zone", [None, BERLIN])
def test_python_inputs_decode_the_same(message: Any, zone: tzinfo | None) -> None:
    _assert_same(event_from_dict, message, naive_timezone=zone)


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"plate__text": "AB\x00C"}, "plate.text"), ({"camera_id": "\x00"}, "camera_id")],
)
def test_decoding_names_the_field_holding_nul(changes: dict[str, Any], field: str) -> None:
    for payload in (orjson.dumps(wire_event(**changes)), json.dumps(wire_event(**changes))):
        with pytest.raises(InvalidEvent) as caught:
            decode_event(payload)
        assert (caught.value.field, caught.value.reason) == (field, "contains a NUL character")


class _NewFieldValidator(PlateEvent):
    @field_validator("camera_id")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class _ChangedValidator(PlateEvent):
    @field_validator("plate_text")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class _ModelValidator(PlateEvent):
    @model_validator(mode="after")
    def _check(self) -> _ModelValidator:
        return self


@pytest.mark.parametrize(
    ("model", "named"),
    [
        (_NewFieldValidator, "camera_id"),
        (_ChangedValidator, "plate_text"),
        (_ModelValidator, "model validators"),
    ],
)
def test_a_validator_the_fast_path_does_not_know_stops_the_import(
    model: type[PlateEvent], named: str
) -> None:
    with pytest.raises(RuntimeError, match=named):
        fields_validator(model, events._FAST_REPLACED, {}, post_init="model_post_init")


def test_valid_messages_take_the_fast_path() -> None:
    # Without this the fast path could stop accepting anything, every test
    # above would still pass, and decoding would be as slow as before.
    valid = [p for p in _payloads(9, 300) if _valid(p)]
    naive = orjson.dumps(wire_event(captured_at="2025-12-16T14:03:07"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events, "_exact_event", _refuse)
        decoded = [decode_event(p) for p in valid]
        from_dicts = [event_from_dict(orjson.loads(p)) for p in valid]
        zoned = decode_event(naive, naive_timezone=BERLIN)
    assert len(valid) > 150
    assert decoded == from_dicts
    assert zoned.captured_at.tzinfo is BERLIN


# Valid in other ways than simulated traffic: optional columns left out or
# empty, the flat shape, a mixture.
OTHER_VALID = [
    wire_event(plate__region=DELETE, plate__normalized_text=DELETE),
    wire_event(plate__region=None, vehicle=DELETE, images=DELETE, node=DELETE, extras=DELETE),
    wire_event(plate__region="", latency_ms=DELETE),
    _flat(),
    _flat(plate_region=None, plate_normalized_text=DELETE, vehicle_make=None),
    wire_event(plate__text=DELETE, plate_text="FLAT-1"),
]


@pytest.mark.parametrize("message", OTHER_VALID)
def test_other_valid_messages_take_the_fast_path(message: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events, "_exact_event", _refuse)
        event_from_dict(message)
        decode_event(orjson.dumps(message))


def _valid(payload: bytes) -> bool:
    try:
        decode_event(payload)
    except InvalidEvent:
        return False
    return True


def _refuse(*_: Any) -> PlateEvent:
    raise AssertionError("the exact path was used for a valid message")
