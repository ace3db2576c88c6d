"""Webhook delivery from the outbox, in order per webhook, retried across restarts.

Each list may have one webhook (URL, secret). The matcher writes a delivery
into `webhook_outbox` in the transaction of the alert (or one digest per
search of past hits), so an alert is never lost between the database and
the receiver. The deliverer POSTs each webhook's deliveries strictly in
delivery order: only the oldest undelivered one is attempted, and the next
waits until it succeeds. A failed attempt is logged in `webhook_attempts`
(status, latency, error), the delivery's `next_attempt_at` moves out by a
capped exponential backoff (stored, so a restart keeps the schedule), and
the webhook is marked failing (`failing_since`, `last_error`) until a
delivery succeeds again; then its backlog goes out in order. A delivery
sends plate data out of the system, so the statement that marks it
delivered also writes its `audit_log` row (client `system:alerts`,
operation `webhook.deliver`, the webhook, delivery and alert ids).

A request carries the JSON payload and
- `X-ALPR-Timestamp`: Unix seconds when it was signed;
- `X-ALPR-Signature`: `sha256=` + hex HMAC-SHA256 of `"<timestamp>.<body>"`
  with the webhook's secret (the receiver checks both, and refuses an old
  timestamp, so a captured request cannot be replayed later);
- `Idempotency-Key`: `alert-<alert id>` or `digest-<delivery id>`: a
  receiver that saw the key already acknowledges without acting again
  (delivery is at least once: a crash between the POST and the database
  update sends it again).
Any 2xx is success. Secrets and payloads are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Final

import asyncpg
import httpx

from alerts import metrics
from core.db import translated
from core.settings import AlertSettings
from schema.errors import StorageError
from sql import load_queries

log = logging.getLogger(__name__)

HEADS_PER_WEBHOOK: Final = 50
# How many alert ids the latency bookkeeping keeps (only for the histogram).
LATENCY_MEMORY: Final = 100_000


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-ALPR-Signature` value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def idempotency_key(row: Any) -> str:
    if row["kind"] == "alert" and row["alert_id"] is not None:
        return f"alert-{row['alert_id']}"
    return f"digest-{row['delivery_id']}"


@dataclass
class Deliverer:
    pool: asyncpg.Pool[Any]
    settings: AlertSettings
    transport: httpx.AsyncBaseTransport | None = None
    # alert id -> when its read was stored (epoch s), for the latency histogram
    stored_at: dict[int, float] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def raised(self, alerts: dict[int, float]) -> None:
        """Told by the matcher after a commit: new deliveries may be waiting."""
        if len(self.stored_at) < LATENCY_MEMORY:
            self.stored_at.update(alerts)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=self.transport
        ) as client:
            while not stop.is_set():
                # Cleared before looking, so alerts raised meanwhile wake the next turn.
                self._wake.clear()
                try:
                    wait = await self.deliver_due(client)
                except StorageError as exc:
                    log.warning("webhook delivery paused, database unavailable: %s", exc)
                    wait = 1.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, min(wait, 1.0)))

    async def deliver_due(self, client: httpx.AsyncClient) -> float:
        """Deliver what is due, each webhook in order; returns the seconds until
        the next delivery is due (0: more may be waiting now)."""
        rows = await self._heads()
        queues = [list(group) for _, group in groupby(rows, key=lambda r: r["webhook_id"])]
        waits = await asyncio.gather(*(self._deliver_queue(client, q) for q in queues))
        return min(waits, default=1.0)

    @translated
    async def _heads(self) -> list[Any]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                *load_queries("matcher")["pending_deliveries"].bind(limit=HEADS_PER_WEBHOOK)
            )
            metrics.WEBHOOK_BACKLOG.set(
                await conn.fetchval(*load_queries("matcher")["backlog"].bind())
            )
        return list(rows)

    async def _deliver_queue(self, client: httpx.AsyncClient, queue: list[Any]) -> float:
        for row in queue:
            if not row["due"]:
                return max(0.0, float(row["wait_s"]))
            if not await self._attempt(client, row):
                return self.settings.webhook_backoff_base_s
        return 0.0 if len(queue) >= HEADS_PER_WEBHOOK else 1.0

    async def _attempt(self, client: httpx.AsyncClient, row: Any) -> bool:
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-ALPR-Timestamp": timestamp,
            "X-ALPR-Signature": sign(row["secret"], timestamp, body),
            "Idempotency-Key": idempotency_key(row),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await client.post(row["url"], content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            # The type only: an exception's text may hold the URL's credentials.
            error = type(exc).__name__
        latency_ms = int(1000 * (time.monotonic() - started))
        await self._log(row, status, latency_ms, error)
        return error is None

    @translated
    async def _log(self, row: Any, status: int | None, latency_ms: int, error: str | None) -> None:
        queries = load_queries("matcher")
        attempt = row["attempts"] + 1
        common = {
            "delivery_id": row["delivery_id"],
            "webhook_id": row["webhook_id"],
            "attempt": attempt,
            "status_code": status,
            "latency_ms": latency_ms,
        }
        async with self.pool.acquire() as conn:
            if error is None:
                await conn.execute(*queries["delivered"].bind(**common))
            else:
                await conn.execute(
                    *queries["failed"].bind(
                        **common,
                        error=error,
                        base_s=self.settings.webhook_backoff_base_s,
                        cap_s=self.settings.webhook_backoff_cap_s,
                    )
                )
        if error is None:
            metrics.WEBHOOK_DELIVERIES.labels(row["kind"]).inc()
            stored = self.stored_at.pop(row["alert_id"], None) if row["alert_id"] else None
            if stored:
                metrics.WEBHOOK_SECONDS.observe(max(0.0, time.time() - stored))
        else:
            metrics.WEBHOOK_FAILURES.inc()
            log.warning(
                "webhook %d delivery %d attempt %d failed: %s",
                row["webhook_id"],
                row["delivery_id"],
                attempt,
                error,
            )
