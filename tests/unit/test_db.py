"""Driver errors become the project's: `core.db.translate`."""

from __future__ import annotations

import asyncpg
import pytest

from core.db import translate, translated
from schema.errors import RowRejected, StorageError, StorageUnavailable


def _postgres_error(cls: type[asyncpg.PostgresError]) -> asyncpg.PostgresError:
    return cls("server said no")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError("refused"), StorageUnavailable),
        (TimeoutError(), StorageUnavailable),
        (asyncpg.InterfaceError("connection is closed"), StorageUnavailable),
        # What a connection whose server went away mid-call may raise.
        (
            asyncpg.InternalClientError("cannot switch to state 11; another operation (2) ..."),
            StorageUnavailable,
        ),
        (asyncpg.exceptions.ProtocolError("unexpected message"), StorageUnavailable),
        (_postgres_error(asyncpg.AdminShutdownError), StorageUnavailable),
        (_postgres_error(asyncpg.CannotConnectNowError), StorageUnavailable),
        (_postgres_error(asyncpg.DeadlockDetectedError), StorageUnavailable),
        # The driver could not encode a value: the row's fault, not an outage.
        (asyncpg.DataError("invalid input for query argument $1"), RowRejected),
        (_postgres_error(asyncpg.StringDataRightTruncationError), RowRejected),
        (_postgres_error(asyncpg.CheckViolationError), RowRejected),
        (_postgres_error(asyncpg.InsufficientPrivilegeError), StorageError),
        (_postgres_error(asyncpg.InvalidObjectDefinitionError), StorageError),
    ],
)
def test_each_driver_error_has_its_project_error(error: Exception, expected: type) -> None:
    translated_error = translate(error)
    assert type(translated_error) is expected
    assert type(error).__name__ in str(translated_error)


async def test_translated_lets_no_driver_error_through() -> None:
    @translated
    async def confused() -> None:
        raise asyncpg.InternalClientError("cannot switch to state 11")

    with pytest.raises(StorageUnavailable):
        await confused()
