"""Apply the numbered migrations in `sql/migrations`, safely.

Rules: migrations run in version order, each in its own transaction, under a
session advisory lock so two processes starting at once apply each exactly
once; every applied file is recorded with its SHA-256, and a file that changed
after it was applied stops the run (edit history with a new migration, never
by rewriting an old one). The engine (TimescaleDB or plain PostgreSQL) is
chosen at the first run and recorded; later runs keep it. Given storage
settings, a run applies them last (chunk interval, compression age), so a
changed setting takes effect at the next `alpr migrate`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

import sql
from core.db import connect, translated
from core.settings import StorageSettings
from schema.errors import MigrationChanged, MigrationError

log = logging.getLogger(__name__)

EnginePreference = Literal["auto", "postgres", "timescaledb"]

# Any fixed 64-bit number works; this one spells "alprmigr".
_LOCK_KEY = 0x616C70726D696772

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    engine TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class MigrationReport:
    """What a run found and did."""

    engine: sql.Engine
    applied: list[str]
    already: int
    storage: str | None = None  # the layout now in force, when settings were applied


async def timescaledb_loadable(conn: asyncpg.Connection[Any]) -> bool:
    """True when `CREATE EXTENSION timescaledb` would work on this server."""
    row = await conn.fetchrow(
        """
        SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
               AND current_setting('shared_preload_libraries') ~ 'timescaledb' AS ok
        """
    )
    return bool(row and row["ok"])


async def _choose_engine(conn: asyncpg.Connection[Any], preference: EnginePreference) -> sql.Engine:
    recorded = await conn.fetchval("SELECT engine FROM schema_migrations WHERE version = 1")
    if recorded is not None:
        if preference not in ("auto", recorded):
            raise MigrationError(
                f"this database was set up for {recorded}; it cannot switch to {preference}"
            )
        return recorded  # type: ignore[no-any-return]
    loadable = await timescaledb_loadable(conn)
    if preference == "timescaledb" and not loadable:
        raise MigrationError("timescaledb was asked for but is not loadable on this server")
    if preference == "postgres" or not loadable:
        return "postgres"
    return "timescaledb"


async def _apply_pending(conn: asyncpg.Connection[Any], engine: sql.Engine) -> MigrationReport:
    recorded = {
        row["version"]: row
        for row in await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    }
    files = sql.migrations(engine)
    known = {m.version for m in files}
    unknown = sorted(set(recorded) - known)
    if unknown:
        raise MigrationError(
            f"the database has migrations {unknown} that this code does not know; "
            "is an older version running against a newer schema?"
        )
    applied: list[str] = []
    for migration in files:
        label = f"{migration.version:04d}_{migration.name}"
        previous = recorded.get(migration.version)
        if previous is not None:
            if previous["checksum"] != migration.checksum:
                raise MigrationChanged(
                    f"migration {label} changed after it was applied; add a new migration instead"
                )
            continue
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, engine, checksum) "
                "VALUES ($1, $2, $3, $4)",
                migration.version,
                migration.name,
                engine,
                migration.checksum,
            )
        log.info("applied migration %s (%s)", label, engine)
        applied.append(label)
    return MigrationReport(engine, applied, already=len(recorded))


async def _apply_storage(conn: asyncpg.Connection[Any], storage: StorageSettings) -> str:
    described: str = await conn.fetchval(
        "SELECT alpr_apply_storage($1, $2)", storage.chunk_interval, storage.compress_after
    )
    log.info("storage layout: %s", described)
    return described


@translated
async def migrate(
    dsn: str, preference: EnginePreference = "auto", storage: StorageSettings | None = None
) -> MigrationReport:
    """Bring the database at `dsn` up to date, then apply `storage` (None:
    leave the layout as it is); safe to run twice or concurrently."""
    conn = await connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_LEDGER)
            engine = await _choose_engine(conn, preference)
            report = await _apply_pending(conn, engine)
            if storage is None:
                return report
            return dataclasses.replace(report, storage=await _apply_storage(conn, storage))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
