"""API keys against a real database: digest storage, scopes, revocation, CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from typing import Any

import asyncpg
import pytest

from core.keys import authenticate, bearer_token, create_key, list_keys, revoke_key
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
    with pytest.raises(Unauthenticated, match="revoked"):
        await authenticate(pool, token, "read")
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
