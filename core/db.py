"""Connections to PostgreSQL, and the one place driver errors become ours."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import asyncpg

from core.settings import DatabaseSettings
from schema.errors import RowRejected, StorageError, StorageUnavailable

P = ParamSpec("P")
T = TypeVar("T")

# What a call into the driver may raise besides the project's own errors:
# the server's errors, the client's (a broken connection, a value it cannot
# encode, a protocol state it did not expect), the network's.
DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
# SQLSTATE classes: 08 connection, 53 resources, 57 operator intervention
# (shutdown, cancel), 40 rollback (serialization, deadlock): worth a retry.
_TRANSIENT_CLASSES = ("08", "53", "57", "40")
# 22 data exception, 23 integrity violation: the row itself is at fault.
_ROW_CLASSES = ("22", "23")


def translate(exc: BaseException) -> StorageError:
    """Map a driver or network error to the most specific project error."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, asyncpg.DataError):
        # The driver could not encode a value it was given: the row's content.
        return RowRejected(f"{type(exc).__name__}: {exc}")
    # A connection lost, timed out or confused mid-call (InternalClientError
    # is what a connection cut at the wrong moment may raise): a new one will do.
    if isinstance(
        exc, OSError | TimeoutError | asyncpg.InterfaceError | asyncpg.InternalClientError
    ):
        return StorageUnavailable(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state.startswith(_TRANSIENT_CLASSES) or isinstance(exc, asyncpg.CannotConnectNowError):
            return StorageUnavailable(f"{type(exc).__name__}: {exc}")
        if state.startswith(_ROW_CLASSES):
            return RowRejected(f"{type(exc).__name__}: {exc}")
    return StorageError(f"{type(exc).__name__}: {exc}")


def translated(
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate a coroutine so that driver errors leave it as `StorageError`s."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    return wrapper


@translated
async def connect(dsn: str, timeout: float = 5.0) -> asyncpg.Connection[Any]:
    """One connection, for work that must own it (migrations, LISTEN)."""
    return await asyncpg.connect(dsn, timeout=timeout)


@translated
async def create_pool(
    settings: DatabaseSettings, dsn: str | None = None, **kwargs: Any
) -> asyncpg.Pool[Any]:
    """A connection pool sized by the settings."""
    pool = await asyncpg.create_pool(
        dsn or settings.dsn(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=settings.db_connect_timeout_s,
        **kwargs,
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def pool_for(settings: DatabaseSettings, **kwargs: Any) -> AsyncIterator[asyncpg.Pool[Any]]:
    """A pool that is closed on the way out."""
    pool = await create_pool(settings, **kwargs)
    try:
        yield pool
    finally:
        await pool.close()
