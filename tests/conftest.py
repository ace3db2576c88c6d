"""Shared fixtures: a real PostgreSQL and a real Kafka broker.

PostgreSQL: `ALPR_TEST_DATABASE_URL` names a server to use (a superuser URL;
point it at a TimescaleDB server to exercise that engine), otherwise an
embedded server is started in a temporary directory for the session. The
migrations run once per session, into a template database; each test module
gets a fresh copy of it (`CREATE DATABASE … TEMPLATE`), dropped afterwards.

Kafka: `ALPR_TEST_KAFKA_BOOTSTRAP` names a broker, otherwise
`scripts/kafka.sh` starts one (KRaft, loopback) for the session.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from core.migrate import migrate, timescaledb_loadable

if TYPE_CHECKING:
    from tests.support.soak_rig import Postgres


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A superuser URL to a PostgreSQL server for the whole session."""
    configured = os.environ.get("ALPR_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from core.embedded import server_uri, start_server

    with tempfile.TemporaryDirectory(prefix="alpr-test-pg-") as tmp:
        server = start_server(Path(tmp))
        yield server_uri(server, "postgres")
        server.cleanup()


@pytest.fixture(scope="session")
async def timescaledb_available(pg_admin_url: str) -> bool:
    conn = await asyncpg.connect(pg_admin_url)
    try:
        return await timescaledb_loadable(conn)
    finally:
        await conn.close()


async def create_database(admin_url: str, template: str | None = None) -> str:
    """A new database on the test server, empty or a copy of `template`; returns its URL."""
    name = f"alpr_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return _with_database(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def migrated_template(pg_admin_url: str) -> AsyncIterator[str]:
    """The name of a database migrated once for the session, to copy from.

    It takes no connections once migrated: a copy needs its template idle,
    and TimescaleDB's background workers connect to every database with the
    extension, so theirs are ended once new ones are refused.
    """
    url = await create_database(pg_admin_url)
    await migrate(url, os.environ.get("ALPR_TEST_DB_ENGINE", "auto"))  # type: ignore[arg-type]
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(pg_admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()
    yield name
    conn = await asyncpg.connect(pg_admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
    finally:
        await conn.close()
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
async def database_url(pg_admin_url: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh migrated database (a copy of the session's template) for one test module."""
    url = await create_database(pg_admin_url, template=migrated_template)
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[Postgres, str]]:
    """A PostgreSQL server of the test's own, which it may stop and start
    (`Postgres.stop`, `Postgres.start`), with a migrated database: its URL."""
    from tests.support.soak_rig import Postgres

    # Not pytest's tmp_path: PostgreSQL runs as another user, who cannot
    # enter pytest's private directory.
    with tempfile.TemporaryDirectory(prefix="alpr-own-pg-") as tmp:
        server = Postgres(Path(tmp))
        await server.start_fresh()
        try:
            url = await create_database(server.url("postgres"))
            await migrate(url, "auto")
            yield server, url
        finally:
            await server.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real Kafka broker for the session."""
    from tests.support.kafka_broker import ensure_broker

    broker = ensure_broker()
    yield broker.bootstrap_servers
    broker.stop()
