"""What one gateway process holds (`GatewayState`) and what one request sees (`Context`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.fastapi import BaseContext

from core.keys import ApiKey
from core.settings import GatewaySettings
from gateway import queries
from gateway.live import LiveFeed
from gateway.reader import DbReader, forbid_without_purpose
from gateway.replica import ReadRotation
from schema.errors import Forbidden

MAX_PURPOSE = 200


@dataclass
class GatewayState:
    """Pools, the live feed and the settings, built once at start."""

    settings: GatewaySettings
    pool: queries.Db  # the primary: keys, audit records, the live feed
    reads: ReadRotation  # the replica while it keeps up, else the primary
    live: LiveFeed
    keys_required: bool

    @property
    def read_pool(self) -> queries.Db:
        """The pool queries read from now; take it once per request."""
        return self.reads.current()


def clean_purpose(value: Any) -> str | None:
    """A stated purpose as stored: trimmed, bounded, None when blank."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_PURPOSE]


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
