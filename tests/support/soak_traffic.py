"""The soak's producer: plate reads at a steady rate, a share of them malformed.

Good reads are `tests.factories.wire_event`s encoded by `ingestor.publish.encode`
(keyed by camera), from 48 cameras on four sites (one camera without a site),
over a pool of recurring plates plus a stream of new ones. A malformed
message is keyed `bad:<kind>:<n>`: the dead letter keeps the key, so the
checker knows each one's kind and the reason its letter must give.

The producer is idempotent (a retry after a lost ack does not write the
record twice) and never bursts: when a send stalls (the broker is away) the
missed slots are skipped, not made up, so the rate after an outage is the
rate before it. Every send is accounted for: acknowledged, failed, or (if the
run ends first) unsettled; the checker reads the topic itself to learn which
of the unacknowledged ones got in.
"""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingestor.publish import encode
from tests.factories import DELETE, wire_event

Log = Callable[[str], None]

BAD_KEY_PREFIX = b"bad:"
CAMERAS = 48
SITES = ("S1", "S2", "S3", "S4")
REGIONS = ("US-FL", "US-GA", "US-CA", "CA-ON", "MX-NL")
PLATE_POOL = 3000
NEW_PLATE_SHARE = 0.2


@dataclass(frozen=True)
class Malformed:
    """A kind of message that can never be stored, and what its dead letter must say."""

    kind: str
    reason: str  # a piece of the dead letter's `reason` header
    make: Callable[[int], bytes | None]


def _bad(**changes: Any) -> bytes:
    return orjson.dumps(wire_event(**changes))


MALFORMED: tuple[Malformed, ...] = (
    Malformed("not_json", "message: not JSON", lambda n: b"{not json %d" % n),
    Malformed("not_utf8", "message: not UTF-8", lambda n: b"\xff\xfe %d" % n),
    Malformed("tombstone", "message: empty (tombstone) message", lambda n: None),
    Malformed("not_object", "message: expected a JSON object", lambda n: b"[%d]" % n),
    Malformed(
        "missing_field", "camera_id: required field is missing", lambda n: _bad(camera_id=DELETE)
    ),
    Malformed(
        "bad_confidence",
        "plate.confidence: Input should be less than or equal to 1",
        lambda n: _bad(plate__confidence=7),
    ),
    Malformed(
        "nul_in_field", "plate.text: contains a NUL character", lambda n: _bad(plate__text="A\0B1")
    ),
    Malformed(
        "timestamp_number",
        "captured_at: expected an ISO 8601 timestamp string",
        lambda n: _bad(captured_at=1764000000 + n),
    ),
    Malformed(
        "timestamp_naive",
        "captured_at: timestamp has no UTC offset",
        lambda n: _bad(captured_at="2026-11-27T10:00:00"),
    ),
    Malformed(
        "camera_too_long",
        "camera_id: String should have at most 50 characters",
        lambda n: _bad(camera_id="c" * 51),
    ),
)
MALFORMED_BY_KIND = {m.kind: m for m in MALFORMED}


def bad_key(kind: str, n: int) -> bytes:
    return BAD_KEY_PREFIX + f"{kind}:{n}".encode()


def kind_of(key: bytes | None) -> str | None:
    """The malformed kind a key names, or None for a good read's key."""
    if key is None or not key.startswith(BAD_KEY_PREFIX):
        return None
    return key[len(BAD_KEY_PREFIX) :].decode().split(":", 1)[0]


@dataclass
class Sends:
    """What the producer tried, and what the broker said."""

    sent: Counter[str] = field(default_factory=Counter)  # "good" or a malformed kind
    acked: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped_slots: int = 0
    acked_good: set[str] = field(default_factory=set)  # event ids
    acked_bad: set[bytes] = field(default_factory=set)  # keys
    errors: Counter[str] = field(default_factory=Counter)

    def total(self, counter: Counter[str], good: bool) -> int:
        return sum(n for kind, n in counter.items() if (kind == "good") == good)


class Traffic:
    """Produces to `topic` at `rate` messages a second until stopped."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        rate: float,
        malformed_share: float,
        rng: random.Random,
        log: Log,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.rate = rate
        self.malformed_share = malformed_share
        self.rng = rng
        self.log = log
        self.sends = Sends()
        self._pool = [self._plate() for _ in range(PLATE_POOL)]
        self._seq = 0
        self._pending: set[asyncio.Future[Any]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then wait (up to 3 minutes) for the last acks."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=10,
            request_timeout_ms=60_000,
        )
        await producer.start()
        try:
            await self._paced(producer, stop)
            if self._pending:
                await asyncio.wait(set(self._pending), timeout=180)
        finally:
            await producer.stop()

    @property
    def unsettled(self) -> int:
        return len(self._pending)

    async def _paced(self, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        slots = 0
        most_behind = max(int(self.rate / 5), 1)  # 200 ms of messages at once, no more
        while not stop.is_set():
            due = int((loop.time() - started) * self.rate)
            if due - slots > most_behind:
                self.sends.skipped_slots += due - slots - most_behind
                slots = due - most_behind
            while slots < due and not stop.is_set():
                slots += 1
                await self._send_one(producer)
            await asyncio.sleep(0.01)

    async def _send_one(self, producer: AIOKafkaProducer) -> None:
        self._seq += 1
        key: bytes | None
        value: bytes | None
        if self.rng.random() < self.malformed_share:
            bad = self.rng.choice(MALFORMED)
            kind, ident = bad.kind, ""
            key, value = bad_key(bad.kind, self._seq), bad.make(self._seq)
        else:
            kind = "good"
            event = self._good_event()
            value, key = encode(event)
            ident = str(event["event_id"])
        self.sends.sent[kind] += 1
        try:
            delivery = await producer.send(self.topic, value=value, key=key)
        except KafkaError as exc:
            self._failed(kind, exc)
            return
        self._pending.add(delivery)
        delivery.add_done_callback(lambda d: self._settled(d, kind, key, ident))

    def _settled(
        self, delivery: asyncio.Future[Any], kind: str, key: bytes | None, ident: str
    ) -> None:
        self._pending.discard(delivery)
        error = None if delivery.cancelled() else delivery.exception()
        if delivery.cancelled() or error is not None:
            self._failed(kind, error)
            return
        self.sends.acked[kind] += 1
        if kind == "good":
            self.sends.acked_good.add(ident)
        elif key is not None:
            self.sends.acked_bad.add(key)

    def _failed(self, kind: str, error: BaseException | None) -> None:
        self.sends.failed[kind] += 1
        name = type(error).__name__ if error is not None else "cancelled"
        if not self.sends.errors[name]:
            self.log(f"producer: a send failed ({name}: {error})")
        self.sends.errors[name] += 1

    def _good_event(self) -> dict[str, Any]:
        rng = self.rng
        camera = rng.randrange(CAMERAS)
        if rng.random() < NEW_PLATE_SHARE:
            plate = self._plate()
            self._pool[rng.randrange(PLATE_POOL)] = plate  # new plates come back later
        else:
            plate = rng.choice(self._pool)
        event = wire_event(
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            captured_at=datetime.now(UTC).isoformat(),
            camera_id=f"soak-cam-{camera:02d}",
            track_id=f"t-{self._seq}",
            plate__text=plate,
            plate__normalized_text=DELETE,
            plate__confidence=round(rng.uniform(0.5, 1.0), 4),
            plate__region=rng.choice(REGIONS),
            latency_ms=DELETE if rng.random() < 0.1 else rng.randrange(5, 400),
            node__site=DELETE if camera == CAMERAS - 1 else SITES[camera % len(SITES)],
        )
        event["extras"]["frame_number"] = self._seq
        return event

    def _plate(self) -> str:
        letters = "".join(self.rng.choices(string.ascii_uppercase, k=3))
        digits = "".join(self.rng.choices(string.digits, k=4))
        return f"{letters}-{digits}"
