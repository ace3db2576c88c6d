"""API keys: created once, shown once, stored as SHA-256 digests.

A key looks like `alpr_<key_id>_<secret>`; the key_id part is public (it
names the key in lists, logs and audit records), the secret is 32 random
bytes. A key may carry an expiry; a revoked or expired key is refused. Both
the ingestor (scope `ingest`) and the gateway (`read`, `admin`) check keys
here, and read them from request headers the same way (`token_from_headers`).

Checking a key reads its row; its `last_used_at` is written at most once a
minute per key, never once per request. A process may keep keys it found in
a `KeyCache` for a few seconds, which is then how long a revoked key can
still pass a new check there.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg

from core.db import translated
from schema.errors import Forbidden, Unauthenticated
from sql import Query, load_queries

Scope = Literal["read", "ingest", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "ingest", "admin")
_PREFIX = "alpr_"
_KEY_SHAPE = re.compile(r"alpr_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")
REFUSED = "unknown, revoked or expired API key"


@dataclass(frozen=True)
class ApiKey:
    """A key as the code sees it after checking: never the secret."""

    key_id: str
    name: str
    scopes: frozenset[str]
    expires_at: datetime | None = None

    def allows(self, scope: Scope) -> bool:
        # admin is a superset: an operator's key can do what it administers.
        return scope in self.scopes or "admin" in self.scopes

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _queries() -> dict[str, Query]:
    return load_queries("keys")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@translated
async def create_key(
    db: asyncpg.Pool[Any], name: str, scopes: list[Scope], expires_at: datetime | None = None
) -> tuple[str, str]:
    """Make a key; returns (key_id, token). The token is not stored anywhere."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValueError("an expiry needs a time zone")
    key_id = secrets.token_hex(4)
    token = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    await db.execute(
        *_queries()["insert_key"].bind(
            key_id=key_id, name=name, key_hash=_digest(token), scopes=scopes, expires_at=expires_at
        )
    )
    return key_id, token


class KeyCache:
    """Keys found recently, by digest, for `ttl_s` seconds; at most `size` of them.

    Only keys that were valid are kept; an expiry is checked at every use.
    """

    def __init__(
        self, ttl_s: float, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._clock = clock
        self._found: OrderedDict[bytes, tuple[float, ApiKey]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._found)

    def get(self, digest: bytes) -> ApiKey | None:
        found = self._found.get(digest)
        if found is None or self._clock() - found[0] >= self.ttl_s:
            self._found.pop(digest, None)
            return None
        return found[1]

    def put(self, digest: bytes, key: ApiKey) -> None:
        if self.ttl_s <= 0:
            return
        self._found[digest] = (self._clock(), key)
        self._found.move_to_end(digest)
        while len(self._found) > self.size:
            self._found.popitem(last=False)


@translated
async def authenticate(
    db: asyncpg.Pool[Any], token: str | None, scope: Scope, cache: KeyCache | None = None
) -> ApiKey:
    """The key behind `token`, if it is valid (known, not revoked, not expired) and
    allows `scope`; raises `Unauthenticated` or `Forbidden`, whose `reason` says why."""
    if not token:
        raise Unauthenticated(
            "an API key is required (Authorization: Bearer <key> or X-API-Key)", "missing"
        )
    digest = _digest(token)
    key = cache.get(digest) if cache is not None else None
    if key is None:
        key = await _look_up(db, digest)
        if cache is not None:
            cache.put(digest, key)
    if key.expired():
        raise Unauthenticated(REFUSED, "expired")
    if not key.allows(scope):
        raise Forbidden(f"this key lacks the '{scope}' scope", "scope")
    return key


async def _look_up(db: asyncpg.Pool[Any], digest: bytes) -> ApiKey:
    row = await db.fetchrow(*_queries()["key_by_hash"].bind(key_hash=digest))
    if row is None:
        raise Unauthenticated(REFUSED, "unknown")
    if not row["valid"]:
        raise Unauthenticated(REFUSED, "revoked" if row["revoked_at"] else "expired")
    if row["stale_use"]:
        await db.execute(*_queries()["note_key_use"].bind(key_id=row["key_id"]))
    return ApiKey(row["key_id"], row["name"], frozenset(row["scopes"]), row["expires_at"])


@translated
async def valid_key_ids(db: asyncpg.Pool[Any], key_ids: Iterable[str]) -> set[str]:
    """Those of `key_ids` that are neither revoked nor expired now."""
    rows = await db.fetch(*_queries()["valid_key_ids"].bind(key_ids=sorted(set(key_ids))))
    return {row["key_id"] for row in rows}


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


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>` (or a bare key in
    `Authorization`), else `X-API-Key`. `headers` is case-insensitive (Starlette's)."""
    return bearer_token(headers.get("authorization")) or headers.get("x-api-key") or None


def public_key_id(token: str | None) -> str | None:
    """The key_id of a token shaped like ours, the part that may be logged; else None."""
    found = _KEY_SHAPE.fullmatch(token or "")
    return found[1] if found else None
