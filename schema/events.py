"""The plate event: as it arrives on the wire, validated, and as a table row.

Producers send a nested shape (`plate`, `vehicle`, `images`, `node`, `extras`)
or a flat one with the column names at the top level; both become one
`PlateEvent` whose fields are exactly the `plate_events` columns. Anything
that cannot be stored raises `InvalidEvent` naming the field (in the shape the
producer used) and the reason; unknown extra fields are ignored.

When it is given a `CaptureWindow`, validation also refuses a `captured_at`
too far ahead of the server's clock or too old: a clock set wrong, or a
date a storage layer cannot hold (`9999-12-31`, `0001-01-01`), is refused
with a reason here instead of failing the batch that would store it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Annotated, Any, Final
from uuid import UUID

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import core_schema

from schema.errors import InvalidEvent
from schema.plates import normalize_plate
from schema.pydantic_internals import Rewrite, construct, fields_validator, validated_fields

INT32_MAX: Final = 2**31 - 1
UNKNOWN_REGION: Final = "UNKNOWN"


# Required and optional text, with the column's length as the limit.
Id50 = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Plate20 = Annotated[str, StringConstraints(min_length=1, max_length=20)]
Opt20 = Annotated[str | None, StringConstraints(max_length=20)]
Opt30 = Annotated[str | None, StringConstraints(max_length=30)]
Opt50 = Annotated[str | None, StringConstraints(max_length=50)]
Opt100 = Annotated[str | None, StringConstraints(max_length=100)]


# Where each column lives in the nested wire shape; used to flatten it and to
# name a failing field the way the producer wrote it.
WIRE_PATHS: Final[dict[str, tuple[str, str]]] = {
    "plate_text": ("plate", "text"),
    "plate_normalized_text": ("plate", "normalized_text"),
    "plate_confidence": ("plate", "confidence"),
    "plate_region": ("plate", "region"),
    "vehicle_type": ("vehicle", "type"),
    "vehicle_make": ("vehicle", "make"),
    "vehicle_model": ("vehicle", "model"),
    "vehicle_color": ("vehicle", "color"),
    "plate_image_url": ("images", "plate_url"),
    "vehicle_image_url": ("images", "vehicle_url"),
    "frame_image_url": ("images", "frame_url"),
    "site_id": ("node", "site"),
    "host_id": ("node", "host"),
    "roi": ("extras", "roi"),
    "direction": ("extras", "direction"),
    "quality_score": ("extras", "quality_score"),
    "frame_number": ("extras", "frame_number"),
}
_NESTED_KEYS: Final = frozenset(group for group, _ in WIRE_PATHS.values())
# The same paths by group, so flattening visits each group once.
_GROUP_PATHS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    group: tuple((key, column) for column, (g, key) in WIRE_PATHS.items() if g == group)
    for group in sorted(_NESTED_KEYS)
}


class PlateEvent(BaseModel):
    """One validated plate read; its fields are the `plate_events` columns.

    The validators below are the definition of a valid event. The fast path
    (`_fast_event`) repeats each of them without a Python call per field:
    change one here and change `_FAST_REPLACED` / `_fast_event` with it (the
    differential tests in tests/unit/test_events_fast_path.py compare the two
    paths).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    event_id: UUID
    captured_at: datetime
    camera_id: Id50
    track_id: Id50
    plate_text: Plate20
    plate_normalized_text: str = ""
    plate_confidence: float = Field(ge=0.0, le=1.0)
    plate_region: Annotated[str, StringConstraints(max_length=10)] = UNKNOWN_REGION
    vehicle_type: Opt20 = None
    vehicle_make: Opt50 = None
    vehicle_model: Opt50 = None
    vehicle_color: Opt30 = None
    plate_image_url: str | None = None
    vehicle_image_url: str | None = None
    frame_image_url: str | None = None
    latency_ms: int | None = Field(default=None, ge=0, le=INT32_MAX)
    quality_score: float | None = None
    frame_number: int | None = Field(default=None, ge=0, le=INT32_MAX)
    site_id: Opt50 = None
    host_id: Opt100 = None
    roi: Opt50 = None
    direction: Opt20 = None

    @field_validator("captured_at", mode="before")
    @classmethod
    def _timestamp_is_text(cls, value: Any) -> Any:
        # Pydantic would read a bare number as Unix time; the wire format
        # promises ISO 8601, so a number is more likely a bug than a time.
        if isinstance(value, str | datetime):
            return value
        raise ValueError("expected an ISO 8601 timestamp string")

    @field_validator("captured_at")
    @classmethod
    def _timestamp_has_zone(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value
        zone = (info.context or {}).get("naive_timezone")
        if zone is None:
            raise ValueError("timestamp has no UTC offset and no ALPR_NAIVE_TIMEZONE is set")
        return value.replace(tzinfo=zone)

    @field_validator("plate_text")
    @classmethod
    def _plate_has_characters(cls, value: str) -> str:
        if not normalize_plate(value):
            raise ValueError("has no letters or digits")
        return value

    @field_validator("plate_region", mode="before")
    @classmethod
    def _region_defaults(cls, value: Any) -> Any:
        return UNKNOWN_REGION if value is None or value == "" else value

    @field_validator("plate_normalized_text", mode="before")
    @classmethod
    def _ignore_sent_normalization(cls, value: Any) -> str:
        # Recomputed from plate_text below: what producers send is unreliable.
        return ""

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "plate_normalized_text", normalize_plate(self.plate_text))

    def as_row(self) -> tuple[Any, ...]:
        """The values in `COLUMNS` order, ready for COPY."""
        return tuple(getattr(self, name) for name in COLUMNS)


COLUMNS: Final[tuple[str, ...]] = tuple(PlateEvent.model_fields)
_DAY_S: Final = 86_400


@dataclass(frozen=True)
class CaptureWindow:
    """Where `captured_at` must lie: at most `max_future_s` ahead of `clock()`
    (Unix seconds) and at most `max_age_days` behind it.

    Comparing Unix seconds never converts a time to UTC, so an offset that
    would carry a date past the calendar's ends is refused like any other.
    """

    max_future_s: float = _DAY_S
    max_age_days: float = 3650
    clock: Callable[[], float] = time.time

    def check(self, captured_at: datetime) -> None:
        """Raise `InvalidEvent` naming the field and the bound when outside the window."""
        at, now = captured_at.timestamp(), self.clock()
        if at > now + self.max_future_s:
            raise InvalidEvent(
                "captured_at",
                f"{captured_at.isoformat()} is more than {self.max_future_s:g} s ahead of "
                "the server's clock (ALPR_MAX_FUTURE_S)",
            )
        if at < now - self.max_age_days * _DAY_S:
            raise InvalidEvent(
                "captured_at",
                f"{captured_at.isoformat()} is more than {self.max_age_days:g} days old "
                "(ALPR_MAX_READ_AGE_DAYS)",
            )


def _is_nested(message: dict[str, Any]) -> bool:
    # A plain loop: this runs for every message, and any() over a generator
    # costs several times more.
    for key in _NESTED_KEYS:
        if isinstance(message.get(key), dict):
            return True
    return False


def flatten(message: dict[str, Any]) -> dict[str, Any]:
    """Turn the nested wire shape into column names; a flat message passes as is."""
    if not _is_nested(message):
        return message
    return _flatten_nested(message)


def _flatten_nested(message: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in message.items() if k not in _NESTED_KEYS}
    for group, paths in _GROUP_PATHS.items():
        part = message.get(group)
        if isinstance(part, dict):
            for key, column in paths:
                if key in part:
                    flat[column] = part[key]
    return flat


def _wire_name(column: str, nested: bool) -> str:
    if nested and column in WIRE_PATHS:
        return ".".join(WIRE_PATHS[column])
    return column


def _reject_nul(flat: dict[str, Any], nested: bool) -> None:
    # PostgreSQL text cannot hold NUL; finding it here names the field,
    # where the database would only fail the whole COPY.
    for column in COLUMNS:
        value = flat.get(column)
        if isinstance(value, str) and "\x00" in value:
            raise InvalidEvent(_wire_name(column, nested), "contains a NUL character")


# The fast path. Validating through `PlateEvent` costs a Python flatten and
# five Python calls per message (four field validators and model_post_init):
# most of the decoding CPU, and the ingest rate moves with it (bench/README.md,
# "Fast paths over library internals"). `_FAST` reads both
# shapes itself (each nested column's alias is its wire path, then its column
# name: the same choice `_flatten_nested` makes) and holds only pydantic-core
# checks (`schema.pydantic_internals`), with the Python validators' work done
# once in `_fast_event`. It accepts a subset of what `PlateEvent` accepts and
# then builds the equal event; anything it does not accept goes to the exact
# path, which alone produces errors, so every error is PlateEvent's own.

# The Python validators taken out, by field, and what checks instead. Any
# other Python validator on PlateEvent makes the import fail rather than be
# skipped.
_FAST_REPLACED: Final[dict[str, tuple[frozenset[str], Rewrite]]] = {
    # _timestamp_is_text: a string, never a number; _timestamp_has_zone: in _fast_event.
    "captured_at": (
        frozenset({"_timestamp_is_text", "_timestamp_has_zone"}),
        lambda timestamp: core_schema.chain_schema(
            [core_schema.str_schema(strict=True), timestamp]
        ),
    ),
    # _plate_has_characters: in _fast_event, which normalizes anyway.
    "plate_text": (frozenset({"_plate_has_characters"}), lambda text: text),
    # _region_defaults: None passes here, None and "" become UNKNOWN in _fast_event.
    "plate_region": (frozenset({"_region_defaults"}), core_schema.nullable_schema),
    # _ignore_sent_normalization: anything is accepted, _fast_event overwrites it.
    "plate_normalized_text": (
        frozenset({"_ignore_sent_normalization"}),
        lambda _: core_schema.any_schema(),
    ),
}
_FAST: Final = fields_validator(
    PlateEvent,
    _FAST_REPLACED,
    {column: [list(path), [column]] for column, path in WIRE_PATHS.items()},
    post_init="model_post_init",
)
_JSON_TYPES: Final = frozenset({dict, list, str, int, float, bool, type(None)})


def _fast_event(
    message: dict[str, Any], naive_timezone: tzinfo | None, check_nul: bool
) -> PlateEvent | None:
    """The event from `message` when the fast checks accept it, else None."""
    validated = validated_fields(_FAST, message)
    if validated is None:
        return None
    values, fields_set = validated
    if check_nul:
        # Each text column's validated value is the text that was sent
        # (plate_normalized_text still is too), so this is _reject_nul's test.
        for value in values.values():
            if isinstance(value, str) and "\x00" in value:
                return None
    # What PlateEvent's Python validators and model_post_init do, in one place.
    normalized = normalize_plate(values["plate_text"])
    if not normalized:
        return None
    values["plate_normalized_text"] = normalized
    # Parsed from a string by pydantic, the timestamp's tzinfo is None or a
    # fixed offset, so this is _timestamp_has_zone's test.
    if values["captured_at"].tzinfo is None:
        if naive_timezone is None:
            return None
        values["captured_at"] = values["captured_at"].replace(tzinfo=naive_timezone)
    region = values["plate_region"]
    if region is None or region == "":
        values["plate_region"] = UNKNOWN_REGION
    return construct(PlateEvent, values, fields_set)


def _plain_json(message: dict[str, Any]) -> bool:
    # The fast path reads a nested group by plain item access, the exact one
    # only from a dict: for JSON values (and only for them) the two agree.
    for group in _NESTED_KEYS:
        if type(message.get(group)) not in _JSON_TYPES:
            return False
    return True


def event_from_dict(
    message: Any,
    *,
    naive_timezone: tzinfo | None = None,
    window: CaptureWindow | None = None,
    check_nul: bool = True,
) -> PlateEvent:
    """Validate one decoded message; raise `InvalidEvent` naming field and reason.

    Without a `window`, any time the model accepts is taken (tools, tests).
    """
    event = None
    if type(message) is dict and _plain_json(message):
        event = _fast_event(message, naive_timezone, check_nul)
    if event is None:
        event = _exact_event(message, naive_timezone, check_nul)
    if window is not None:
        window.check(event.captured_at)
    return event


def _exact_event(message: Any, naive_timezone: tzinfo | None, check_nul: bool) -> PlateEvent:
    """`event_from_dict` through PlateEvent itself: the definition, and every error."""
    if not isinstance(message, dict):
        raise InvalidEvent("message", f"expected a JSON object, got {_json_type(message)}")
    nested = _is_nested(message)
    flat = _flatten_nested(message) if nested else message
    if check_nul:
        _reject_nul(flat, nested)
    try:
        return PlateEvent.model_validate(flat, context={"naive_timezone": naive_timezone})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        column = str(error["loc"][0]) if error["loc"] else "message"
        raise InvalidEvent(_wire_name(column, nested), _reason(error)) from None


def _json_type(value: Any) -> str:
    """What a client called the value: JSON's name for its type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _reason(error: Any) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def decode_event(
    payload: bytes | str,
    *,
    naive_timezone: tzinfo | None = None,
    window: CaptureWindow | None = None,
) -> PlateEvent:
    """Decode one wire message (UTF-8 JSON) and validate it, as `event_from_dict` does."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        reason = "not UTF-8" if "UTF-8" in str(exc) else "not JSON"
        raise InvalidEvent("message", f"{reason}: {exc}") from None
    # JSON spells NUL as \u0000: scanning the raw bytes once is far cheaper
    # than looking into every field of every message.
    raw = payload if isinstance(payload, bytes) else payload.encode()
    # (Most messages hold no backslash at all: one memchr then.)
    check_nul = b"\\" in raw and b"\\u0000" in raw
    # orjson yields only JSON values, so _plain_json needs no asking here.
    event = None
    if not check_nul and type(message) is dict:
        event = _fast_event(message, naive_timezone, False)
    if event is None:
        event = _exact_event(message, naive_timezone, check_nul)
    if window is not None:
        window.check(event.captured_at)
    return event


def event_to_wire(event: PlateEvent) -> dict[str, Any]:
    """The nested wire shape of an event, as producers send it."""
    data = event.model_dump(mode="json")
    wire: dict[str, Any] = {k: v for k, v in data.items() if k not in WIRE_PATHS}
    for column, (group, key) in WIRE_PATHS.items():
        if data[column] is not None:
            wire.setdefault(group, {})[key] = data[column]
    return wire
