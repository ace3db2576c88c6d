"""Hits become alerts, one per vehicle pass.

A car passing a camera is read several times within seconds. The reads
that hit the same entry at the same camera within the pass window of the
pass's reads join its alert (read count, first/last seen, the best read by
confidence); a read outside the window starts a new pass, a new alert.

`record` writes the alerts and their reads inside the caller's
transaction. It is idempotent per (entry, read): a pair already recorded,
by an earlier run over the same batch or by the search of past hits, is
skipped, so handling a batch twice raises nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from alerts.entries import Hit
from sql import load_queries


@dataclass
class Pass:
    """One alert being written: an open one from the database, or a new one."""

    entry_id: int
    camera_id: str
    first_seen: datetime
    last_seen: datetime
    best_confidence: float
    alert_id: int | None = None
    first: Hit | None = None  # the hit that raised a new alert
    best: Hit | None = None  # this round's best read, when it beats the alert's
    hits: list[Hit] = field(default_factory=list)

    def takes(self, hit: Hit, window: timedelta) -> bool:
        at = hit.read.captured_at
        return self.first_seen - window <= at <= self.last_seen + window

    def add(self, hit: Hit) -> None:
        read = hit.read
        self.hits.append(hit)
        self.first_seen = min(self.first_seen, read.captured_at)
        self.last_seen = max(self.last_seen, read.captured_at)
        if read.confidence > self.best_confidence:
            self.best_confidence = read.confidence
            self.best = hit


@dataclass(frozen=True)
class Recorded:
    """What `record` wrote: the new alerts (id -> the hit that raised them),
    the hits recorded (new reads of alerts) and the open alerts joined."""

    raised: dict[int, Hit]
    hits: int
    joined: int


async def record(
    conn: asyncpg.Connection[Any], hits: list[Hit], window_s: float, historical: bool
) -> Recorded:
    """Write `hits` as alerts (live: joining open passes; historical: grouped
    among themselves) in the caller's transaction."""
    hits = await _new_hits(conn, hits)
    if not hits:
        return Recorded({}, 0, 0)
    open_passes = {} if historical else await _open_passes(conn, hits)
    passes = _group(hits, open_passes, timedelta(seconds=window_s))
    joined = [p for p in passes if p.alert_id is not None and p.hits]
    raised = await _insert(conn, [p for p in passes if p.alert_id is None], historical)
    await _join(conn, joined)
    await _insert_reads(conn, passes)
    return Recorded(raised, len(hits), len(joined))


async def _new_hits(conn: asyncpg.Connection[Any], hits: list[Hit]) -> list[Hit]:
    unique = {(h.entry_id, h.read.event_id): h for h in hits}
    if not unique:
        return []
    entry_ids, event_ids = zip(*unique, strict=True)
    rows = await conn.fetch(
        *load_queries("matcher")["recorded_reads"].bind(
            entry_ids=list(entry_ids), event_ids=list(event_ids)
        )
    )
    for row in rows:
        unique.pop((row["entry_id"], row["event_id"]), None)
    return sorted(unique.values(), key=lambda h: (h.read.captured_at, h.read.event_id))


async def _open_passes(conn: asyncpg.Connection[Any], hits: list[Hit]) -> dict[Any, Pass]:
    keys = sorted({(h.entry_id, h.read.camera_id) for h in hits})
    rows = await conn.fetch(
        *load_queries("matcher")["open_passes"].bind(
            entry_ids=[k[0] for k in keys], camera_ids=[k[1] for k in keys]
        )
    )
    return {
        (r["entry_id"], r["camera_id"]): Pass(
            r["entry_id"],
            r["camera_id"],
            r["first_seen"],
            r["last_seen"],
            r["best_confidence"],
            alert_id=r["alert_id"],
        )
        for r in rows
    }


def _group(hits: list[Hit], current: dict[Any, Pass], window: timedelta) -> list[Pass]:
    """Each hit (in capture order) joins its key's current pass or starts one."""
    passes = list(current.values())
    for hit in hits:
        key = (hit.entry_id, hit.read.camera_id)
        open_pass = current.get(key)
        if open_pass is None or not open_pass.takes(hit, window):
            at = hit.read.captured_at
            open_pass = Pass(hit.entry_id, hit.read.camera_id, at, at, -1.0, first=hit)
            current[key] = open_pass
            passes.append(open_pass)
        open_pass.add(hit)
    return passes


def _edits(hit: Hit) -> str:
    return orjson.dumps(list(hit.edits)).decode()


async def _insert(
    conn: asyncpg.Connection[Any], new: list[Pass], historical: bool
) -> dict[int, Hit]:
    if not new:
        return {}
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "entry_ids hotlist_ids priorities camera_ids site_ids plates costs edits "
            "region_mismatches historical first_seens last_seens read_counts "
            "best_event_ids best_captured_ats best_confidences"
        ).split()
    }
    for p in new:
        assert p.first is not None and p.best is not None
        first, best = p.first, p.best
        for name, value in (
            ("entry_ids", p.entry_id),
            ("hotlist_ids", first.hotlist_id),
            ("priorities", first.priority),
            ("camera_ids", p.camera_id),
            ("site_ids", first.read.site_id),
            ("plates", best.read.plate),
            ("costs", best.cost),
            ("edits", _edits(best)),
            ("region_mismatches", first.region_mismatch),
            ("historical", historical),
            ("first_seens", p.first_seen),
            ("last_seens", p.last_seen),
            ("read_counts", len(p.hits)),
            ("best_event_ids", best.read.event_id),
            ("best_captured_ats", best.read.captured_at),
            ("best_confidences", best.read.confidence),
        ):
            columns[name].append(value)
    rows = await conn.fetch(*load_queries("matcher")["insert_alerts"].bind(**columns))
    ids: dict[tuple[int, UUID], int] = {
        (r["entry_id"], r["best_event_id"]): r["alert_id"] for r in rows
    }
    raised: dict[int, Hit] = {}
    for p in new:
        assert p.best is not None and p.first is not None
        p.alert_id = ids[(p.entry_id, p.best.read.event_id)]
        raised[p.alert_id] = p.first
    return raised


async def _join(conn: asyncpg.Connection[Any], joined: list[Pass]) -> None:
    if not joined:
        return
    best = [p.best for p in joined]
    fallback = [p.hits[0] for p in joined]
    # A pass whose new reads are no better keeps its best read: confidence -1
    # never wins the comparison in the statement.
    chosen = [b or f for b, f in zip(best, fallback, strict=True)]
    await conn.execute(
        *load_queries("matcher")["join_alerts"].bind(
            alert_ids=[p.alert_id for p in joined],
            reads=[len(p.hits) for p in joined],
            first_seens=[p.first_seen for p in joined],
            last_seens=[p.last_seen for p in joined],
            best_event_ids=[h.read.event_id for h in chosen],
            best_captured_ats=[h.read.captured_at for h in chosen],
            best_confidences=[
                h.read.confidence if b is not None else -1.0
                for h, b in zip(chosen, best, strict=True)
            ],
            plates=[h.read.plate for h in chosen],
            costs=[h.cost for h in chosen],
            edits=[_edits(h) for h in chosen],
        )
    )


async def _insert_reads(conn: asyncpg.Connection[Any], passes: list[Pass]) -> None:
    rows = [(p.alert_id, h) for p in passes for h in p.hits]
    if not rows:
        return
    await conn.execute(
        *load_queries("matcher")["insert_alert_reads"].bind(
            alert_ids=[a for a, _ in rows],
            entry_ids=[h.entry_id for _, h in rows],
            event_ids=[h.read.event_id for _, h in rows],
            captured_ats=[h.read.captured_at for _, h in rows],
            confidences=[h.read.confidence for _, h in rows],
        )
    )
