"""Hotlist imports against a real PostgreSQL: CSV, NDJSON and gzip, column
mappings, refused rows with their reasons, and --replace: its diff, and a
reader that never sees the list empty or half replaced."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from core import hotlists
from core.hotlist_import import ColumnMap, ImportOptions, import_file
from core.hotlists import Actor, EntryFilter, HotlistSpec
from schema.errors import InvalidRequest

WHO = Actor("importer", client="cli", purpose="nightly extract")

# A state's stolen-vehicle extract, as sent: its own field codes.
EXTRACT = """LIC,LIS,LIT,LIY,NIC,ORI,OCA,MKE
ABC123,CA,PC,2027,V123456789,CA0194200,24-001,KV
8XYZ 99,NV,PC,2026,V223456789,NV0020000,24-002,KV
,CA,PC,2027,V323456789,CA0194200,24-003,KV
ABC-123,CA,PC,2027,V423456789,CA0194200,24-004,KV
LONGER THAN TWENTY CHARS 123,CA,PC,2027,V5,CA0194200,24-005,KV
"""


async def _active(pool: asyncpg.Pool[Any], name: str) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT e.plate, e.region, e.reason, e.case_number, e.agency, e.record_number,"
        " e.details::text AS details FROM hotlist_entries e JOIN hotlists h USING (hotlist_id)"
        " WHERE h.name = $1 AND e.removed_at IS NULL",
        name,
    )
    return {
        f"{r['plate']} {r['region']}": {**dict(r), "details": json.loads(r["details"])}
        for r in rows
    }


async def test_a_stolen_vehicle_extract_loads_unedited(
    pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="ncic"), WHO)
    path = tmp_path / "extract.txt"
    path.write_text(EXTRACT)
    report = await import_file(pool, "ncic", path, ImportOptions(default_reason="stolen"), WHO)
    assert (report.rows, report.accepted, report.added) == (5, 2, 2)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (4, "missing plate"),
        (5, "duplicate of line 2 (same plate and region)"),
        (6, "bad plate: longer than 20 characters"),
    ]
    entries = await _active(pool, "ncic")
    first = entries["ABC123 CA"]
    assert (first["reason"], first["case_number"], first["agency"], first["record_number"]) == (
        "stolen",
        "24-001",
        "CA0194200",
        "V123456789",
    )
    assert first["details"] == {
        "plate_type": "PC",
        "plate_expiry_year": "2027",
        "record_type": "KV",
    }
    assert "8XYZ99 NV" in entries
    backfill = await pool.fetchval(
        "SELECT cardinality(entry_ids) FROM hotlist_backfills b JOIN hotlists h USING (hotlist_id)"
        " WHERE h.name = 'ncic'"
    )
    assert backfill == 2
    audit = await pool.fetchrow(
        "SELECT variables::text AS v, result_count, purpose FROM audit_log"
        " WHERE operation = 'hotlist.import' ORDER BY audit_id DESC LIMIT 1"
    )
    assert (
        audit is not None and audit["result_count"] == 2 and audit["purpose"] == "nightly extract"
    )
    assert json.loads(audit["v"])["added"] == 2


async def test_ndjson_gzip_and_a_mapping(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="mapped"), WHO)
    rows = [
        {"Kennzeichen": "b-ob 123", "Land": "de", "Grund": "wanted", "Farbe": "blue"},
        {"Kennzeichen": "XY 1", "Grund": "amber", "Bis": "2020-01-01"},
        {"Kennzeichen": "XY 2", "Grund": "amber", "Bis": "not a date"},
        {"Kennzeichen": "XY 3"},
        {"Kennzeichen": "XY 4", "Grund": "amber", "Bis": "2099-12-31"},
    ]
    text = "\n".join(json.dumps(r) for r in rows) + "\n{broken\n"
    path = tmp_path / "list.data"  # no telling name: gzip by its magic, NDJSON by its first byte
    path.write_bytes(gzip.compress(text.encode()))
    options = ImportOptions(
        columns=ColumnMap.parse("plate=Kennzeichen,region=Land,reason=Grund,valid_until=Bis")
    )
    report = await import_file(pool, "mapped", path, options, WHO)
    assert report.added == 2
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejected] == [
        (2, "valid_until is not after valid_from (or now)"),
        (3, "bad date in valid_until"),
        (4, "missing reason"),
        (6, "not JSON"),
    ]
    entries = await _active(pool, "mapped")
    assert entries["BOB123 DE"]["details"] == {"Farbe": "blue"}
    assert "XY4 None" in entries
    with pytest.raises(InvalidRequest, match="no column"):
        await import_file(
            pool, "mapped", path, ImportOptions(columns=ColumnMap.parse("plate=Nope")), WHO
        )


def _csv(path: Path, plates: list[str], reason: str = "stolen") -> Path:
    path.write_text("plate,state,reason\n" + "".join(f"{p},CA,{reason}\n" for p in plates))
    return path


async def test_replace_reports_its_diff(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="daily"), WHO)
    await import_file(
        pool, "daily", _csv(tmp_path / "a.csv", ["AAA1", "BBB2", "CCC3"]), ImportOptions(), WHO
    )
    second = tmp_path / "b.csv"
    second.write_text("plate,state,reason\nBBB2,CA,stolen\nCCC3,CA,wanted\nDDD4,CA,stolen\n")
    report = await import_file(
        pool, "daily", second, ImportOptions(replace=True, verbose=True), WHO
    )
    assert (report.added, report.removed, report.changed, report.unchanged) == (1, 1, 1, 1)
    assert (report.added_plates, report.removed_plates, report.changed_plates) == (
        ["DDD4 CA"],
        ["AAA1 CA"],
        ["CCC3 CA"],
    )
    assert sorted(await _active(pool, "daily")) == ["BBB2 CA", "CCC3 CA", "DDD4 CA"]
    # Without --replace nothing is removed.
    extra = await import_file(
        pool, "daily", _csv(tmp_path / "c.csv", ["EEE5"]), ImportOptions(), WHO
    )
    assert (extra.added, extra.removed) == (1, 0)
    empty = tmp_path / "empty.csv"
    empty.write_text("plate,state,reason\n,CA,stolen\n")
    with pytest.raises(InvalidRequest, match="empty the list"):
        await import_file(pool, "daily", empty, ImportOptions(replace=True), WHO)
    assert len(await _active(pool, "daily")) == 4


async def test_a_reader_never_sees_half_a_replace(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    """While lists of 20,000 entries replace each other (half the plates new
    each time), a reader counting the active entries sees 20,000 every time."""
    made = await hotlists.create_hotlist(pool, HotlistSpec(name="swap"), WHO)
    size = 20_000
    files = [
        _csv(tmp_path / f"swap{n}.csv", [f"S{n * size // 2 + i:07d}" for i in range(size)])
        for n in range(3)
    ]
    await import_file(pool, "swap", files[0], ImportOptions(replace=True), WHO)
    counts: list[int] = []
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set():
            counts.append(
                await pool.fetchval(
                    "SELECT count(*) FROM hotlist_entries"
                    " WHERE hotlist_id = $1 AND removed_at IS NULL",
                    made.hotlist_id,
                )
            )
            await asyncio.sleep(0)

    reader = asyncio.create_task(read())
    try:
        for path in [files[1], files[2], files[0]]:
            report = await import_file(pool, "swap", path, ImportOptions(replace=True), WHO)
            assert report.added + report.removed > 0
    finally:
        done.set()
        await reader
    assert len(counts) > 3
    assert set(counts) == {size}
    page, _ = await hotlists.list_entries(pool, made.hotlist_id, EntryFilter(active=True), 1)
    assert page and page[0].plate.startswith("S")


async def test_an_unreadable_file_changes_nothing(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="intact"), WHO)
    await import_file(
        pool, "intact", _csv(tmp_path / "ok.csv", ["KEEP1", "KEEP2"]), ImportOptions(), WHO
    )
    cut = tmp_path / "cut.csv.gz"
    rows = "".join(f"N{i:06d},stolen\n" for i in range(20_000)).encode()
    cut.write_bytes(gzip.compress(b"plate,reason\n" + rows)[:-200])
    latin = tmp_path / "latin.csv"
    latin.write_bytes("plate,reason\nABC1,gestohlen \xe4\n".encode("latin-1"))
    for bad in (cut, latin):
        with pytest.raises(InvalidRequest, match="unreadable"):
            await import_file(pool, "intact", bad, ImportOptions(replace=True), WHO)
    assert sorted(await _active(pool, "intact")) == ["KEEP1 CA", "KEEP2 CA"]
