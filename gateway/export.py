"""`alpr export`: reads matching the gateway's `events` filters, to CSV or NDJSON.

The filter is the gateway's own `EventQuery` (plate, camera, site, time
range, direction, vehicle, confidence) and its own SQL (`events_filter`, or
for a plate `alpr_reads`, which reads only the plate's days), so an
export selects what the events pages would. Rows stream from a
server-side cursor oldest first, so an export of millions of reads holds a
few thousand in memory. CSV has the `plate_events` column layout, the same
`alpr import` reads; NDJSON has the flat column names. An export reads
plate data, so it leaves an audit record with its filters, count and
purpose.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import IO, Any, Final, Literal

import asyncpg
import orjson

from core.db import translated
from gateway.queries import events_filter, filter_params
from schema.events import COLUMNS
from schema.filters import EventQuery
from schema.plates import normalize_plate
from sql import Query, fill, load_blocks, load_queries

Format = Literal["csv", "ndjson"]
_PREFETCH: Final = 2000


def _export_query() -> Query:
    return Query.parse(fill(load_blocks("export")["export_events"], filter=events_filter()))


def _selected(query: EventQuery) -> tuple[Any, ...]:
    """The export's statement and arguments: a plate's is read day by day."""
    params = _params(query)
    if query.plate is not None:
        return load_queries("export")["export_plate_events"].bind(**params)
    return _export_query().bind(**params)


def _params(query: EventQuery) -> dict[str, Any]:
    """The filter's parameters, in the forms the gateway's inputs take: the
    plate normalized (ABC-123 finds ABC123), direction and type in lower case
    (the GraphQL enums' values)."""
    return filter_params(
        replace(
            query,
            plate=normalize_plate(query.plate) if query.plate is not None else None,
            direction=query.direction.lower() if query.direction is not None else None,
            vehicle_type=query.vehicle_type.lower() if query.vehicle_type is not None else None,
        )
    )


def _csv_writer(out: IO[str]) -> Callable[[asyncpg.Record], None]:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)

    def write(row: asyncpg.Record) -> None:
        writer.writerow(
            "" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v)
            for v in row.values()
        )

    return write


def _ndjson_writer(out: IO[str]) -> Callable[[asyncpg.Record], None]:
    def write(row: asyncpg.Record) -> None:
        out.write(orjson.dumps(dict(row), default=str).decode())
        out.write("\n")

    return write


@translated
async def export_events(
    conn: asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any],
    query: EventQuery,
    out: IO[str],
    fmt: Format = "csv",
    purpose: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every read matching `query` to `out`; return how many, audited."""
    write = _csv_writer(out) if fmt == "csv" else _ndjson_writer(out)
    count = 0
    async with conn.transaction(readonly=True):
        async for row in conn.cursor(*_selected(query), prefetch=_PREFETCH):
            write(row)
            count += 1
            if progress is not None and count % _PREFETCH == 0:
                progress(count)
    variables = {k: v for k, v in asdict(query).items() if v is not None}
    audit = load_queries("export")["audit_export"].bind(
        variables=json.dumps({**variables, "format": fmt}, default=str),
        result_count=count,
        purpose=purpose,
    )
    await conn.execute(*audit)
    return count
