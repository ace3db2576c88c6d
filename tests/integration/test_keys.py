"""API keys against a real database: digest storage, scopes, revocation, CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.keys import (
    KeyCache,
    authenticate,
    bearer_token,
    create_key,
    list_keys,
    public_key_id,
    revoke_key,
    token_from_headers,
    valid_key_ids,
)
from schema.errors import Forbidden, Unauthenticated


async def test_key_is_stored_as_digest_only(pool: asyncpg.Pool[Any]) -> None:
    key_id, token = await create_key(pool, "ops laptop", ["read"])
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", key_id)
    assert row is not None
    assert row["key_hash"] == hashlib.sha256(token.encode()).digest()
    assert token not in str(dict(row))
    assert token.startswith(f"alpr_{key_id}_")


async def test_scopes_are_enforced(pool: asyncpg.Pool[Any]) -> None:
    _, reader = await create_key(pool, "reader", ["read"])
    _, admin = await create_key(pool, "admin", ["admin"])
    assert (await authenticate(pool, reader, "read")).name == "reader"
    with pytest.raises(Forbidden, match="ingest"):
        await authenticate(pool, reader, "ingest")
    assert (await authenticate(pool, admin, "ingest")).allows("read")


async def test_missing_unknown_and_revoked_keys(pool: asyncpg.Pool[Any]) -> None:
    with pytest.raises(Unauthenticated, match="required"):
        await authenticate(pool, None, "read")
    with pytest.raises(Unauthenticated, match="unknown"):
        await authenticate(pool, "alpr_nope_nope", "read")
    key_id, token = await create_key(pool, "temp", ["read"])
    assert await revoke_key(pool, key_id)
    assert not await revoke_key(pool, key_id)
    with pytest.raises(Unauthenticated, match="revoked") as refused:
        await authenticate(pool, token, "read")
    assert refused.value.reason == "revoked"
    listed = {k.key_id: k for k in await list_keys(pool)}
    assert listed[key_id].revoked_at is not None


async def test_bad_scope_is_refused(pool: asyncpg.Pool[Any]) -> None:
    with pytest.raises(ValueError, match="scopes"):
        await create_key(pool, "x", ["write"])  # type: ignore[list-item]


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("alpr_1_x") == "alpr_1_x"
    assert bearer_token("Basic dXNlcg==") is None
    assert bearer_token(None) is None


def test_cli_creates_lists_and_revokes(database_url: str) -> None:
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}

    def alpr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alpr", *args], env=env, capture_output=True, text=True
        )

    created = alpr("keys", "create", "dashboard", "--scope", "read")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.splitlines()[0].removeprefix("key_id=")
    token = created.stdout.splitlines()[1]
    listed = alpr("keys", "list")
    assert key_id in listed.stdout and token not in listed.stdout
    assert alpr("keys", "revoke", key_id).returncode == 0
    assert "revoked" in alpr("keys", "list").stdout
    assert alpr("keys", "create", "x", "--scope", "write").returncode != 0


def test_cli_keys_with_an_expiry(database_url: str) -> None:
    env = {**os.environ, "ALPR_DATABASE_URL": database_url}

    def alpr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alpr", *args], env=env, capture_output=True, text=True
        )

    created = alpr("keys", "create", "quarterly", "--scope", "read", "--expires-in", "90d")
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.splitlines()[0].removeprefix("key_id=")
    at = alpr("keys", "create", "dated", "--scope", "read", "--expires-at", "2999-01-02T03:04:05")
    offset = alpr("keys", "create", "zoned", "--scope", "read", "--expires-at", "2999-01-02T05:04Z")
    assert offset.returncode == 0, offset.stderr
    zoned_id = offset.stdout.splitlines()[0].removeprefix("key_id=")
    assert at.returncode == 0, at.stderr
    dated_id = at.stdout.splitlines()[0].removeprefix("key_id=")
    listed = {line.split("\t")[0]: line for line in alpr("keys", "list").stdout.splitlines()}
    in_90_days = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    assert "\tactive\t" in listed[key_id] and f"expires={in_90_days}" in listed[key_id]
    assert "expires=2999-01-02T03:04:05+00:00" in listed[dated_id]
    assert "expires=2999-01-02T05:04:00+00:00" in listed[zoned_id]
    for bad in (
        ["--expires-in", "90"],
        ["--expires-in", "0d"],
        ["--expires-at", "2001-01-01"],
        ["--expires-at", "soon"],
        ["--expires-in", "1d", "--expires-at", "2999-01-01"],
    ):
        refused = alpr("keys", "create", "bad", "--scope", "read", *bad)
        assert refused.returncode != 0 and "expires" in refused.stderr, bad


async def test_an_expired_key_is_refused(pool: asyncpg.Pool[Any]) -> None:
    """Defect 8 (expiry): a key may carry an expiry; after it, it is refused."""
    past_id, past = await create_key(pool, "old", ["read"], datetime.now(UTC) - timedelta(1))
    soon_id, soon = await create_key(pool, "soon", ["read"], datetime.now(UTC) + timedelta(1))
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(pool, past, "read")
    assert refused.value.reason == "expired"
    assert str(refused.value) == "unknown, revoked or expired API key"  # which, not said
    assert (await authenticate(pool, soon, "read")).expires_at is not None
    assert await valid_key_ids(pool, [past_id, soon_id, "nothere"]) == {soon_id}
    listed = {k.key_id: k for k in await list_keys(pool)}
    assert listed[soon_id].expires_at is not None and listed[past_id].expires_at is not None
    # An expiry passing while the key sits in a cache counts at once.
    cache = KeyCache(ttl_s=60)
    await pool.execute(
        "UPDATE api_keys SET expires_at = now() + interval '1 second' WHERE key_id = $1", soon_id
    )
    await authenticate(pool, soon, "read", cache)
    await asyncio.sleep(1.1)
    with pytest.raises(Unauthenticated):
        await authenticate(pool, soon, "read", cache)


async def test_use_is_written_at_most_once_a_minute(pool: asyncpg.Pool[Any]) -> None:
    """Defect 8 (writes): checking a key reads its row; it is written once a minute."""
    key_id, token = await create_key(pool, "busy", ["read"])
    row = "SELECT xmin::text AS version, last_used_at FROM api_keys WHERE key_id = $1"
    await authenticate(pool, token, "read")
    first = await pool.fetchrow(row, key_id)
    assert first is not None and first["last_used_at"] is not None
    for _ in range(30):
        await authenticate(pool, token, "read")
    assert await pool.fetchrow(row, key_id) == first  # not one write more
    await pool.execute(
        "UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE key_id = $1", key_id
    )
    await authenticate(pool, token, "read")
    later = await pool.fetchrow(row, key_id)
    assert later is not None and later["last_used_at"] > first["last_used_at"]


async def test_a_cache_keeps_a_key_for_its_ttl_only(pool: asyncpg.Pool[Any]) -> None:
    now = [0.0]
    cache = KeyCache(ttl_s=2.0, size=2, clock=lambda: now[0])
    key_id, token = await create_key(pool, "cached", ["read"])
    await authenticate(pool, token, "read", cache)
    await revoke_key(pool, key_id)
    now[0] = 1.9
    assert (await authenticate(pool, token, "read", cache)).key_id == key_id
    now[0] = 2.0
    with pytest.raises(Unauthenticated):
        await authenticate(pool, token, "read", cache)
    # Bounded: the oldest entries go first.
    for name in ("a", "b", "c"):
        _, other = await create_key(pool, name, ["read"])
        await authenticate(pool, other, "read", cache)
    assert len(cache) == 2


def test_headers_and_public_key_ids() -> None:
    token = "alpr_0123abcd_" + "x" * 43
    assert token_from_headers({"authorization": f"Bearer {token}"}) == token
    assert token_from_headers({"authorization": token}) == token
    assert token_from_headers({"x-api-key": token}) == token
    assert token_from_headers({"authorization": "Basic dXNlcg=="}) is None
    assert token_from_headers({}) is None
    assert public_key_id(token) == "0123abcd"
    assert public_key_id("alpr_nope_nope") is None
    assert public_key_id("0123abcd") is None and public_key_id(None) is None
