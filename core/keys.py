"""API keys: created once, shown once, stored as SHA-256 digests.

A key looks like `alpr_<key_id>_<secret>`; the key_id part is public (it
names the key in lists and audit records), the secret is 32 random bytes.
Both the ingestor (scope `ingest`) and the gateway (`read`, `admin`) check
keys here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from core.db import translated
from schema.errors import Forbidden, Unauthenticated
from sql import Query, load_queries

Scope = Literal["read", "ingest", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "ingest", "admin")
_PREFIX = "alpr_"


@dataclass(frozen=True)
class ApiKey:
    """A key as the code sees it after checking: never the secret."""

    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        # admin is a superset: an operator's key can do what it administers.
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _queries() -> dict[str, Query]:
    return load_queries("keys")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@translated
async def create_key(db: asyncpg.Pool[Any], name: str, scopes: list[Scope]) -> tuple[str, str]:
    """Make a key; returns (key_id, token). The token is not stored anywhere."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(4)
    token = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    await db.execute(
        *_queries()["insert_key"].bind(
            key_id=key_id, name=name, key_hash=_digest(token), scopes=scopes
        )
    )
    return key_id, token


@translated
async def authenticate(db: asyncpg.Pool[Any], token: str | None, scope: Scope) -> ApiKey:
    """The key behind `token`, if it is valid and allows `scope`."""
    if not token:
        raise Unauthenticated("an API key is required (Authorization: Bearer <key>)")
    row = await db.fetchrow(*_queries()["key_by_hash"].bind(key_hash=_digest(token)))
    if row is None:
        raise Unauthenticated("unknown or revoked API key")
    key = ApiKey(row["key_id"], row["name"], frozenset(row["scopes"]))
    if not key.allows(scope):
        raise Forbidden(f"this key lacks the '{scope}' scope")
    return key


@translated
async def list_keys(db: asyncpg.Pool[Any]) -> list[KeyInfo]:
    rows = await db.fetch(*_queries()["list_keys"].bind())
    return [KeyInfo(**dict(row)) for row in rows]


@translated
async def revoke_key(db: asyncpg.Pool[Any], key_id: str) -> bool:
    """Revoke a key; False when no such live key exists."""
    return await db.fetchval(*_queries()["revoke_key"].bind(key_id=key_id)) is not None


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header (or a bare key)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return header.strip() if header.startswith(_PREFIX) else None
