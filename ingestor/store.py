"""The storing step shared by every source: write a batch, collect its dead letters.

Decoding already turned unreadable messages into dead letters; here the
events are written (`write_isolating`), and any event the database refused
becomes a dead letter too, tied to its original message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.db import translate
from ingestor.batch import Batch
from ingestor.messages import ROW_REJECTED, DeadLetter
from ingestor.writer import Connection, Writer, WriteResult


@dataclass(frozen=True)
class Stored:
    """What became of a batch: the write's result and every dead letter."""

    result: WriteResult
    dead: list[DeadLetter]


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool[Any]) -> AsyncIterator[Connection]:
    """A pooled connection; failing to get one is `StorageUnavailable`, not a crash."""
    try:
        conn = await pool.acquire()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise translate(exc) from exc
    try:
        yield conn
    finally:
        with contextlib.suppress(Exception):
            # A connection that died mid-write is closed by the pool here.
            await pool.release(conn)


async def store(pool: asyncpg.Pool[Any], writer: Writer, batch: Batch) -> Stored:
    """Write `batch`'s events; return the result and all its dead letters."""
    result = WriteResult()
    dead = list(batch.dead)
    if batch.events:
        async with connection(pool) as conn:
            isolated = await writer.write_isolating(conn, batch.events)
        result = isolated.result
        dead += [
            DeadLetter(batch.message_of(r.event), ROW_REJECTED, r.reason) for r in isolated.rejected
        ]
    return Stored(result, dead)
