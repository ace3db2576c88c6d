"""Synthetic plate reads for demos, load tests and benchmarks.

`Simulation` makes realistic wire messages: cameras grouped in sites, a
pool of plates where a few come back often and most rarely (repeat visits
follow a Zipf-like law), OCR noise (a character swapped for one OCR confuses
it with, a stray dash or space), and a configurable share of malformed
messages of every kind the dead-letter path must handle. `send_to_kafka` and
`send_to_http` deliver them at a given rate.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from schema.plates import OCR_CONFUSION_CLASSES

# Malformed kinds, each a way real producers get it wrong.
MALFORMED_KINDS = (
    "not_json",
    "not_utf8",
    "missing_field",
    "confidence_out_of_range",
    "bad_timestamp",
    "naive_timestamp",
    "too_long",
)
_CONFUSABLE = {c: sorted(cls - {c}) for cls in OCR_CONFUSION_CLASSES for c in cls}


@dataclass(frozen=True)
class SimulationConfig:
    """How the synthetic traffic looks."""

    cameras: int = 8
    sites: int = 2
    plates: int = 1000
    ocr_noise: float = 0.05
    malformed: float = 0.0
    seed: int | None = None


class Simulation:
    """An endless, reproducible (with a seed) stream of wire messages."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.plates = [self._plate() for _ in range(config.plates)]
        # Zipf-like weights: plate i comes back about 1/(i+1) as often as the first.
        self.weights = list(itertools.accumulate(1 / (i + 1) for i in range(config.plates)))
        self.cameras = [
            (f"cam-{k:03d}", f"site-{k % max(config.sites, 1):02d}") for k in range(config.cameras)
        ]
        self.tracks = itertools.count(1)

    def _plate(self) -> str:
        letters = "".join(self.rng.choices(string.ascii_uppercase, k=3))
        digits = "".join(self.rng.choices(string.digits, k=self.rng.choice((3, 4))))
        return f"{letters}-{digits}"

    def _noisy(self, plate: str) -> str:
        if self.rng.random() >= self.config.ocr_noise:
            return plate
        chars = list(plate)
        spots = [i for i, c in enumerate(chars) if c in _CONFUSABLE]
        if spots:
            i = self.rng.choice(spots)
            chars[i] = self.rng.choice(_CONFUSABLE[chars[i]])
        else:
            chars.insert(self.rng.randrange(len(chars) + 1), " ")
        return "".join(chars)

    def event(self) -> dict[str, Any]:
        """One valid read in the nested wire shape."""
        camera, site = self.rng.choice(self.cameras)
        plate = self.rng.choices(self.plates, cum_weights=self.weights)[0]
        text = self._noisy(plate)
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "captured_at": datetime.now(UTC).isoformat(),
            "camera_id": camera,
            "track_id": f"t-{next(self.tracks):07d}",
            "plate": {
                "text": text,
                "normalized_text": text.replace("-", ""),
                "confidence": round(self.rng.uniform(0.55, 0.995), 3),
                "region": self.rng.choice(("US-FL", "US-GA", "US-AL", None)),
            },
            "vehicle": {
                "type": self.rng.choice(("car", "truck", "van", "motorcycle")),
                "color": self.rng.choice(("silver", "black", "white", "red", "blue")),
            },
            "latency_ms": self.rng.randint(20, 120),
            "node": {"site": site, "host": f"edge-{camera}"},
            "extras": {"direction": self.rng.choice(("inbound", "outbound"))},
        }

    def malformed(self, kind: str) -> bytes:
        """One message of a malformed `kind` (see MALFORMED_KINDS)."""
        event = self.event()
        if kind == "not_json":
            return b'{"event_id": "broken'
        if kind == "not_utf8":
            return b'{"plate": "\xff\xfe"}'
        if kind == "missing_field":
            del event["camera_id"]
        elif kind == "confidence_out_of_range":
            event["plate"]["confidence"] = 7
        elif kind == "bad_timestamp":
            event["captured_at"] = "31/12/2025 25:61"
        elif kind == "naive_timestamp":
            event["captured_at"] = datetime.now(UTC).replace(tzinfo=None).isoformat()
        elif kind == "too_long":
            event["camera_id"] = "camera-" + "x" * 60
        else:
            raise ValueError(f"unknown malformed kind {kind!r}")
        return orjson.dumps(event)

    def messages(self) -> Iterator[tuple[bytes, bytes | None]]:
        """Endless (value, key) pairs, keyed by camera; malformed at the configured share."""
        while True:
            if self.config.malformed and self.rng.random() < self.config.malformed:
                yield self.malformed(self.rng.choice(MALFORMED_KINDS)), b"malformed"
            else:
                event = self.event()
                yield orjson.dumps(event), event["camera_id"].encode()


class _Pace:
    """Spreads sends evenly at `rate` per second (None: as fast as possible)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.sent = 0

    async def wait(self, n: int = 1) -> None:
        self.sent += n
        if self.rate:
            ahead = self.sent / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


async def send_to_kafka(
    messages: Iterator[tuple[bytes, bytes | None]],
    count: int,
    bootstrap: str,
    topic: str,
    rate: float | None = None,
) -> int:
    """Produce `count` messages to `topic`; returns how many the broker acknowledged."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    pace = _Pace(rate)
    try:
        pending: list[asyncio.Future[Any]] = []
        for value, key in itertools.islice(messages, count):
            pending.append(await producer.send(topic, value=value, key=key))
            await pace.wait()
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def send_to_http(
    messages: Iterator[tuple[bytes, bytes | None]],
    count: int,
    url: str,
    rate: float | None = None,
    per_request: int = 100,
    api_key: str | None = None,
) -> dict[str, int]:
    """POST `count` messages as NDJSON, `per_request` per body; returns summed answers."""
    headers = {"content-type": "application/x-ndjson"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    totals = {"stored": 0, "duplicates": 0, "rejected": 0}
    pace = _Pace(rate)
    left = count
    async with httpx.AsyncClient(timeout=30) as client:
        while left > 0:
            n = min(per_request if rate is None else max(1, min(per_request, int(rate))), left)
            body = b"\n".join(value for value, _ in itertools.islice(messages, n))
            response = await client.post(url, content=body, headers=headers)
            if response.status_code not in (200, 422):
                response.raise_for_status()
            answer = response.json()
            totals["stored"] += answer["stored"]
            totals["duplicates"] += answer["duplicates"]
            totals["rejected"] += answer["rejected_count"]
            left -= n
            await pace.wait(n)
    return totals
