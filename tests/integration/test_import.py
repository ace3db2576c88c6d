"""`alpr import` on a real database: NDJSON (gzip), JSON arrays and CSV through
validation and the writer; rejects with reasons; resume without duplicates."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from ingestor.sources.files import CHECKPOINT_SUFFIX, import_file, reject_reasons
from schema.events import COLUMNS, event_from_dict
from tests.factories import DELETE, wire_event

BASE = datetime.now(UTC) - timedelta(hours=6)


def _good(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        wire_event(
            captured_at=(BASE + timedelta(seconds=i)).isoformat(),
            plate__text=f"{prefix}{i:04d}",
            camera_id=f"imp-{prefix}",
        )
        for i in range(n)
    ]


async def _count(pool: asyncpg.Pool[Any], camera: str) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM plate_events "
        "WHERE camera_id = $1",
        camera,
    )
    assert row is not None
    return row["n"], row["d"]


async def test_ndjson_gzip_with_rejects(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    good = _good(50, "NDJ")
    lines = [orjson.dumps(e) for e in good]
    lines.insert(3, b"{not json")
    lines.insert(10, orjson.dumps(wire_event(camera_id="imp-NDJ", plate__confidence=7)))
    lines.insert(20, orjson.dumps(wire_event(camera_id="imp-NDJ", track_id=DELETE)))
    naive = wire_event(camera_id="imp-NDJ", captured_at="2025-12-16T14:03:07")
    lines.insert(30, orjson.dumps(naive))
    lines.insert(40, b"")  # blank lines are skipped, not rejected
    path = tmp_path / "reads.ndjson.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")

    report = await import_file(pool, path, batch_size=16)

    assert (report.stored, report.rejected, report.total) == (50, 4, 54)
    assert await _count(pool, "imp-NDJ") == (50, 50)
    assert report.rejects_path is not None
    reasons = reject_reasons(report.rejects_path)
    assert reasons[0].startswith("message: not JSON")
    assert "plate.confidence" in reasons[1]
    assert reasons[2] == "track_id: required field is missing"
    assert "UTC offset" in reasons[3]
    first = orjson.loads(report.rejects_path.read_bytes().splitlines()[0])
    assert first["position"] == 4 and first["record"] == "{not json"


async def test_csv_and_json_array(pool: asyncpg.Pool[Any], tmp_path: Path) -> None:
    events = [event_from_dict(e) for e in _good(30, "CSV")]
    path = tmp_path / "reads.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*COLUMNS, "created_at"])  # extra columns are ignored
        for event in events:
            row = event.model_dump(mode="json")
            writer.writerow([("" if row[c] is None else row[c]) for c in COLUMNS] + [""])
        writer.writerow(["not-a-uuid", BASE.isoformat(), "imp-CSV", "t", "X1"] + [""] * 17 + [""])
    report = await import_file(pool, path)
    assert (report.stored, report.rejected) == (30, 1)
    assert await _count(pool, "imp-CSV") == (30, 30)
    stored = await pool.fetchrow(
        "SELECT * FROM plate_events WHERE event_id = $1", events[0].event_id
    )
    assert stored is not None and stored["plate_normalized_text"] == "CSV0000"
    assert stored["vehicle_make"] == "Toyota" and stored["latency_ms"] == 45

    array = tmp_path / "reads.json"
    array.write_bytes(orjson.dumps(_good(12, "ARR")))
    assert (await import_file(pool, array)).stored == 12
    assert await _count(pool, "imp-ARR") == (12, 12)


class Interrupted(Exception):
    pass


async def test_resume_after_interruption_stores_each_read_once(
    pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    path = tmp_path / "big.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in _good(100, "RES")) + b"\n")

    def stop_after_two_batches(done: int, total: int, note: str) -> None:
        if done >= 40:
            raise Interrupted

    with pytest.raises(Interrupted):
        await import_file(pool, path, batch_size=20, progress=stop_after_two_batches)
    checkpoint = json.loads((tmp_path / f"big.ndjson{CHECKPOINT_SUFFIX}").read_text())
    assert checkpoint["done"] == 40 and not checkpoint["finished"]
    assert await _count(pool, "imp-RES") == (40, 40)

    resumed = await import_file(pool, path, batch_size=20)
    assert (resumed.skipped, resumed.stored, resumed.duplicates) == (40, 60, 0)
    assert await _count(pool, "imp-RES") == (100, 100)
    again = await import_file(pool, path)  # finished: nothing to do
    assert (again.stored, again.skipped) == (0, 100)
    # Starting over is idempotent too: everything is a duplicate.
    over = await import_file(pool, path, restart=True)
    assert (over.stored, over.duplicates) == (0, 100)
    assert await _count(pool, "imp-RES") == (100, 100)


def test_import_command(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "cli.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in _good(25, "CLI")) + b"\n{}\n")
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "alpr", "import", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "stored=25" in done.stdout and "rejected=1" in done.stdout
    # Plain JSON log lines off a terminal, and no plate text in them.
    assert '"event": "import cli.ndjson: 26/26 reads"' in done.stderr
    assert "CLI00" not in done.stderr
