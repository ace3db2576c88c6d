"""Where the matcher stands in the stream of stored batches.

Batches commit out of batch_id order, so a follower keeps a transaction-id
watermark (`follower_positions`): every batch written by a transaction
below it has been handled. One statement takes the batches at or above it
together with its snapshot's horizon (`pg_snapshot_xmin`): every
transaction below the horizon has ended, so all their batches are in the
answer and none can appear below the horizon later. The new watermark is
the horizon (or, when the round was cut short by its limit, the last
batch's transaction id) and is written in the transaction of the round's
alerts: a crash before the commit loses both, a crash after keeps both.

Committed batches at or above the horizon (a transaction elsewhere is
still open below them) are taken too, and remembered by id until the
watermark passes them, so one long transaction does not hold alerts back.
After a restart that memory is gone and they are taken again; recording
an (entry, read) pair is idempotent, so nothing is raised twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from sql import load_queries


@dataclass(frozen=True)
class Batch:
    batch_id: int
    xid: int
    event_ids: list[UUID]
    captured_ats: list[datetime]
    stored_at: datetime


@dataclass(frozen=True)
class Take:
    """One round's batches and the watermark to write with its alerts."""

    batches: list[Batch]
    watermark: int


@dataclass
class Follower:
    """The watermark of one named follower and the batches handled above it."""

    name: str
    watermark: int = 0
    # batch_id -> xid of batches handled at or above the watermark
    done: dict[int, int] = field(default_factory=dict)

    async def start(self, conn: asyncpg.Connection[Any]) -> None:
        """Read (or, the first time, create at the present) the stored position."""
        queries = load_queries("matcher")
        await conn.execute(*queries["start_position"].bind(follower=self.name))
        self.watermark = int(await conn.fetchval(*queries["position"].bind(follower=self.name)))
        self.done.clear()

    async def take(self, conn: asyncpg.Connection[Any], limit: int) -> Take:
        rows = await conn.fetch(
            *load_queries("matcher")["take_batches"].bind(
                watermark=str(self.watermark), done=list(self.done), limit=limit
            )
        )
        horizon = int(rows[0]["horizon"])
        batches = [
            Batch(r["batch_id"], int(r["xid"]), r["event_ids"], r["captured_ats"], r["stored_at"])
            for r in rows
            if r["batch_id"] is not None
        ]
        watermark = horizon
        if len(batches) >= limit:
            watermark = min(horizon, batches[-1].xid)
        return Take(batches, max(self.watermark, watermark))

    async def save(self, conn: asyncpg.Connection[Any], watermark: int) -> None:
        """Write `watermark` (inside the caller's transaction)."""
        await conn.execute(
            *load_queries("matcher")["set_position"].bind(
                follower=self.name, watermark=str(watermark)
            )
        )

    def advanced(self, take: Take) -> None:
        """After the round's commit: remember what was handled above the watermark."""
        self.watermark = take.watermark
        for batch in take.batches:
            self.done[batch.batch_id] = batch.xid
        self.done = {b: x for b, x in self.done.items() if x >= self.watermark}
