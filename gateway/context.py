"""What one gateway process holds (`GatewayState`) and what one request sees (`Context`)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from strawberry.fastapi import BaseContext

from core.hotlists import Actor
from core.keys import ApiKey, KeyCache, Scope
from core.settings import GatewaySettings
from gateway import queries
from gateway.alerting import AlertingReader
from gateway.live import LiveFeed
from gateway.reader import DbReader, forbid_without_purpose
from gateway.replica import ReadRotation
from schema.errors import Forbidden, InvalidRequest

if TYPE_CHECKING:
    from gateway.attempts import FailedAttempts

MAX_PURPOSE = 200


class Change(NamedTuple):
    """A change's pool (the primary) and actor (`Context.change`)."""

    pool: queries.Db
    actor: Actor


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

    @property
    def alerting(self) -> AlertingReader:
        """Hotlists and alerts, from the primary: small tables, and triage
        must see an alert the moment it is raised."""
        return AlertingReader(self.state.pool, self.reader)

    def require_scope(self, scope: Scope) -> None:
        """Forbidden unless the caller's key allows `scope` (with keys off, a
        request without a key may)."""
        if self.key is None and not self.state.keys_required:
            return
        if self.key is None or not self.key.allows(scope):
            raise Forbidden(f"this needs a key with the '{scope}' scope", "scope")

    def actor(self, purpose: Any = None) -> Actor:
        """Who makes a change, for its rows and audit record: the key, the
        client, and the purpose given (else the request's). Forbidden without
        one where purposes are required."""
        stated = clean_purpose(purpose) or self.purpose
        if stated is None and self.state.settings.require_purpose:
            raise Forbidden("a purpose is required (the purpose argument or X-Purpose)", "purpose")
        name = f"{self.key.name} ({self.key.key_id})" if self.key else "local"
        return Actor(name, self.key.key_id if self.key else None, self.client, stated)

    def change(self, scope: Scope, purpose: Any = None) -> Change:
        """Where a change of lists, entries or alerts goes and who makes it:
        Forbidden without `scope`, or without a purpose where one is required."""
        self.require_scope(scope)
        return Change(self.state.pool, self.actor(purpose))

    def require_admin(self, what: str = "the audit log") -> None:
        if self.state.keys_required and (self.key is None or not self.key.allows("admin")):
            raise Forbidden(f"{what} needs a key with the 'admin' scope")
