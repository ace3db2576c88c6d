"""Backup and restore through the real tools: a database with reads, keys,
audit records and holds is dumped, restored into an empty database, and
compared table by table (row counts and content checksums)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from alpr.backup import backup, checksum_path, restore, verify
from core.holds import HoldRequest, add_hold
from core.keys import create_key
from ingestor.writer import write_batch
from schema.errors import BackupError
from schema.events import event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import wire_event

TABLES = (
    "plate_events",
    "plates",
    "plate_cameras",
    "cameras",
    "camera_hourly",
    "api_keys",
    "audit_log",
    "legal_holds",
    "schema_migrations",
)


async def _fill(pool: asyncpg.Pool[Any]) -> None:
    base = datetime.now(UTC) - timedelta(days=3)
    events = [
        event_from_dict(
            wire_event(
                captured_at=(base + timedelta(minutes=7 * i)).isoformat(),
                plate__text=f"BK{i % 37:03d}",
                camera_id=f"cam-{i % 5}",
            )
        )
        for i in range(600)
    ]
    async with pool.acquire() as conn:
        assert (await write_batch(conn, events)).stored == 600
    await create_key(pool, "backup test", ["read"])
    await pool.execute(
        "INSERT INTO audit_log (key_id, operation, variables, result_count, purpose) "
        "VALUES ('k1', 'events', '{\"plate\": \"BK001\"}', 3, 'test')"
    )
    await add_hold(pool, HoldRequest(plate="BK001", reason="kept", created_by="test"))


async def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    conn = await asyncpg.connect(url)
    try:
        result = {}
        for table in TABLES:
            row = await conn.fetchrow(
                "SELECT count(*) AS n, "
                "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS sum "
                f"FROM {table} t"
            )
            assert row is not None
            result[table] = (row["n"], row["sum"])
        return result
    finally:
        await conn.close()


async def test_backup_then_restore_into_an_empty_database(
    database_url: str, pool: asyncpg.Pool[Any], pg_admin_url: str, tmp_path: Path
) -> None:
    await _fill(pool)
    archive = tmp_path / "alpr.dump"
    seen: list[tuple[int, int]] = []
    made = await backup(database_url, archive, lambda done, total, _: seen.append((done, total)))
    assert archive.exists() and made.size_bytes == archive.stat().st_size
    assert checksum_path(archive).read_text().split() == [made.sha256, "alpr.dump"]
    assert seen and seen[-1][0] >= len(TABLES) - 1  # progress per table
    target = await create_database(pg_admin_url)
    try:
        await restore(target, archive, lambda *_: None)
        before, after = await _fingerprint(database_url), await _fingerprint(target)
        assert after == before
        assert after["plate_events"][0] == 600
        # A second restore into the now-full database is refused.
        with pytest.raises(BackupError, match="not empty"):
            await restore(target, archive, lambda *_: None)
    finally:
        await drop_database(pg_admin_url, target)


async def test_a_damaged_archive_is_refused(
    database_url: str, pg_admin_url: str, tmp_path: Path
) -> None:
    archive = tmp_path / "damaged.dump"
    await backup(database_url, archive, lambda *_: None)
    verify(archive)
    with archive.open("r+b") as f:
        f.seek(archive.stat().st_size // 2)
        f.write(b"\x00garbage\x00")
    with pytest.raises(BackupError, match="checksum"):
        verify(archive)
    target = await create_database(pg_admin_url)
    try:
        with pytest.raises(BackupError, match="checksum"):
            await restore(target, archive, lambda *_: None)
    finally:
        await drop_database(pg_admin_url, target)


def test_backup_and_restore_commands(database_url: str, pg_admin_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "cli.dump"
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}
    made = subprocess.run(
        [sys.executable, "-m", "alpr", "backup", str(archive)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert "sha256=" in made.stdout
    # Not a terminal: progress comes as plain log lines, JSON.
    assert '"event": "backup:' in made.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "alpr", "restore", str(archive)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
