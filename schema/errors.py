"""The project's one error tree.

Every failure the code raises on purpose is one of these; driver and library
errors (asyncpg, aiokafka, pydantic) are translated into them at the edge where
they happen, and translated again into HTTP statuses, GraphQL error codes or
dead-letter reasons at the edge where they leave.

    AlprError
    ├── InvalidEvent            a plate event that can never be stored (dead letter)
    ├── InvalidRequest          a client's bad query or REST call (4xx / BAD_USER_INPUT)
    ├── NotFound                the thing asked for does not exist (404 / NOT_FOUND)
    ├── AuthError               `reason`: a short word for counting them
    │   ├── Unauthenticated     no key, or an unknown, revoked or expired one (401)
    │   ├── Forbidden           a valid key without the scope, or no purpose given (403)
    │   └── RateLimited         too many failed attempts from one address (429)
    ├── StorageError            the database failed
    │   ├── StorageUnavailable  cannot reach it now: pause and retry
    │   └── RowRejected         the database refused a row's content: dead letter
    ├── BrokerUnavailable       Kafka cannot be reached now: pause and retry
    ├── BackupError             a backup or restore failed or does not verify
    └── MigrationError          the schema cannot be brought up to date
        └── MigrationChanged    an applied migration file was edited afterwards
"""

from __future__ import annotations


class AlprError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidEvent(AlprError):
    """A plate event that can never be stored; `field` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidRequest(AlprError):
    """A client sent an argument we cannot serve; `argument` names it."""

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")
        self.argument = argument
        self.reason = reason


class NotFound(AlprError):
    """The requested record does not exist."""


class AuthError(AlprError):
    """Base of authentication and authorisation failures; `reason` is a short,
    fixed word for counting them (e.g. missing, unknown, revoked, expired)."""

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(message)
        self.reason = reason


class Unauthenticated(AuthError):
    """No API key, or an unknown, revoked or expired one."""


class Forbidden(AuthError):
    """A valid key that lacks the scope, or a request without a required purpose."""


class RateLimited(AuthError):
    """Too many failed authentications from one address; retry after `retry_after` s."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed authentication attempts; retry later", "rate_limited")
        self.retry_after = retry_after


class StorageError(AlprError):
    """The database failed."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now; the caller should pause and retry."""


class RowRejected(StorageError):
    """The database refused one row's content (a constraint or a value out of range)."""


class BrokerUnavailable(AlprError):
    """The Kafka broker cannot be reached right now; the caller should pause and retry."""


class BackupError(AlprError):
    """A backup or restore could not be made, or an archive does not match its checksum."""


class MigrationError(AlprError):
    """The schema cannot be brought up to date."""


class MigrationChanged(MigrationError):
    """A migration file changed after it was applied; refuse to go on."""
