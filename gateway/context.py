"""What one gateway process holds (`GatewayState`) and what one request sees (`Context`)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from strawberry.fastapi import BaseContext

from core.keys import ApiKey, KeyCache
from core.settings import GatewaySettings
from gateway import queries
from gateway.live import LiveFeed
from gateway.reader import DbReader, forbid_without_purpose
from gateway.replica import ReadRotation
from schema.errors import Forbidden, InvalidRequest

if TYPE_CHECKING:
    from gateway.auth import FailedAttempts

MAX_PURPOSE = 200


@dataclass
class GatewayState:
    """Pools, the live feed and the settings, built once at start; the keys
    found lately, failed key checks by address, and the open websockets."""

    settings: GatewaySettings
    pool: queries.Db  # the primary: keys, audit records, the live feed
    reads: ReadRotation  # the replica while it keeps up, else the primary
    live: LiveFeed
    keys_required: bool
    keys: KeyCache
    failures: FailedAttempts
    # Identified websocket connections, for closing those whose key goes.
    sockets: weakref.WeakSet[Context] = field(default_factory=weakref.WeakSet)

    @property
    def read_pool(self) -> queries.Db:
        """The pool queries read from now; take it once per request."""
        return self.reads.current()


def clean_purpose(value: Any) -> str | None:
    """A stated purpose as stored: trimmed, bounded, None when blank.

    Raises `InvalidRequest` for control characters or lone surrogates, which
    PostgreSQL's text cannot hold (NUL) or a log line should not.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    if any((ord(c) < 32 and c != "\t") or 0xD800 <= ord(c) < 0xE000 for c in value):
        raise InvalidRequest("purpose", "must not contain control characters")
    return value.strip()[:MAX_PURPOSE]


class Connection(Protocol):
    """A websocket connection's handler, as far as closing it goes."""

    async def close_connection(self, code: int, reason: str) -> None:
        """Close the socket, then stop its operations: nothing more is sent."""


class Context(BaseContext):
    """The request's (or websocket connection's) identity, purpose and reader."""

    def __init__(
        self,
        state: GatewayState,
        key: ApiKey | None = None,
        purpose: str | None = None,
        client: str | None = None,
        long_lived: bool = False,
    ) -> None:
        super().__init__()
        self.state = state
        self.client = client
        self.long_lived = long_lived
        self.connection: Connection | None = None  # a websocket's, while it is open
        self.identify(key, purpose)

    def identify(self, key: ApiKey | None, purpose: str | None) -> None:
        """Set who asks and why; a new reader enforces the purpose rule."""
        self.key = key
        self.purpose = purpose
        check = forbid_without_purpose(purpose) if self.state.settings.require_purpose else None
        self._purpose_check = check
        self._reader = DbReader(self.state.read_pool, check, cache=not self.long_lived)

    @property
    def reader(self) -> DbReader:
        """The reader of this request, over the read pool it started with; a
        websocket connection, which lives for hours, follows the rotation: its
        reader is replaced when the read pool changes."""
        if self.long_lived and self._reader.db is not self.state.read_pool:
            self._reader = DbReader(self.state.read_pool, self._purpose_check, cache=False)
        return self._reader

    def require_admin(self) -> None:
        if self.state.keys_required and (self.key is None or not self.key.allows("admin")):
            raise Forbidden("the audit log needs a key with the 'admin' scope")
