"""Legal holds, placed and released: the writes behind `alpr hold`.

A hold keeps the reads it names from retention (`ingestor.retention`) until
it is released; a release keeps the row with who released it and why, so
the history of every hold stays. The admin REST API in the gateway runs the
same named queries (`sql/queries/holds.sql`).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from alpr.db import translated
from schema.holds import Hold, HoldRequest
from sql import load_queries

log = logging.getLogger(__name__)


def _queries() -> dict[str, str]:
    return load_queries("holds")


@translated
async def add_hold(pool: asyncpg.Pool[Any], request: HoldRequest) -> Hold:
    """Place a hold; effective for the next retention run at once."""
    row = await pool.fetchrow(
        _queries()["add_hold"],
        request.event_id,
        request.normalized_plate(),
        request.held_from,
        request.held_until,
        request.case_number,
        request.reason,
        request.created_by,
    )
    assert row is not None
    hold = Hold.from_row(row)
    # The plate is personal data: the id and case suffice at INFO.
    log.info(
        "legal hold %s placed by %s (case %s)", hold.hold_id, hold.created_by, hold.case_number
    )
    return hold


@translated
async def list_holds(
    pool: asyncpg.Pool[Any], *, active_only: bool = True, case_number: str | None = None
) -> list[Hold]:
    """Holds in the order placed; released ones too unless `active_only`."""
    rows = await pool.fetch(_queries()["list_holds"], active_only, case_number)
    return [Hold.from_row(row) for row in rows]


@translated
async def release_holds(
    pool: asyncpg.Pool[Any],
    *,
    released_by: str,
    reason: str,
    hold_id: int | None = None,
    case_number: str | None = None,
) -> list[int]:
    """Release hold `hold_id`, or every active hold of `case_number`; return their ids."""
    if (hold_id is None) == (case_number is None):
        raise ValueError("name exactly one of hold_id or case_number")
    if not released_by.strip() or not reason.strip():
        raise ValueError("who releases and why are required")
    rows = await pool.fetch(_queries()["release_holds"], hold_id, case_number, released_by, reason)
    released = [int(row["hold_id"]) for row in rows]
    log.info("legal holds %s released by %s", released, released_by)
    return released
