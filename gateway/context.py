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
from schema.errors import Forbidden

MAX_PURPOSE = 200


@dataclass
class GatewayState:
    """Pools, the live feed and the settings, built once at start."""

    settings: GatewaySettings
    pool: queries.Db  # the primary: keys, audit records
    read_pool: queries.Db  # the replica when configured, else the primary
    live: LiveFeed
    keys_required: bool


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
        self.reader = DbReader(self.state.read_pool, check, cache=not self.long_lived)

    def require_admin(self) -> None:
        if self.state.keys_required and (self.key is None or not self.key.allows("admin")):
            raise Forbidden("the audit log needs a key with the 'admin' scope")
