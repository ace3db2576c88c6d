"""The API the dashboard added, through a real gateway: legal holds placed and
released over GraphQL (admin scope, audited), a list file imported with a
dry run first (nothing kept) then for real (hotlist scope), and a fuzzy
entry's misreads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from core import hotlists
from core.hotlists import Actor, HotlistSpec
from core.keys import create_key
from tests.integration.gateway_server import error_codes, gql, serve, settings_for

PLACE = """mutation Place($plate: String, $eventId: String, $reason: String!) {
  placeLegalHold(plate: $plate, eventId: $eventId, caseNumber: "K-1", reason: $reason) {
    id plate caseNumber createdBy active } }"""
RELEASE = """mutation Release($id: ID, $reason: String!) {
  releaseLegalHolds(id: $id, reason: $reason) { id active releasedBy releaseReason } }"""
IMPORT = """mutation Import($content: String!, $dryRun: Boolean!, $replace: Boolean!) {
  importHotlistFile(hotlist: "uploads", content: $content, dryRun: $dryRun, replace: $replace) {
    dryRun rows accepted added removed changed unchanged rejectedCount revision
    rejected { line reason } addedPlates removedPlates changedPlates } }"""
MISREADS = """query($plate: String!, $cost: Float!, $first: Int!) {
  fuzzyMisreads(plate: $plate, maxCost: $cost, first: $first) {
    plate maxCost more misreads { plate cost edits } } }"""


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool[Any]) -> dict[str, tuple[str, dict[str, str]]]:
    made = {}
    for name, scopes in {
        "read": ["read"],
        "admin": ["read", "admin"],
        "hotlist": ["read", "hotlist"],
    }.items():
        key_id, token = await create_key(pool, f"{name}-key", scopes)  # type: ignore[arg-type]
        made[name] = (key_id, {"Authorization": f"Bearer {token}"})
    return made


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(database_url, require_keys=True)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


async def test_holds_by_graphql_need_admin_and_are_audited(
    client: httpx.AsyncClient, keys: dict[str, tuple[str, dict[str, str]]], pool: asyncpg.Pool[Any]
) -> None:
    asked = {"plate": "hd 001", "reason": "court order"}
    refused = await gql(client, PLACE, asked, keys["read"][1])
    assert error_codes(refused) == ["FORBIDDEN"]
    admin_id, admin = keys["admin"]
    placed = (await gql(client, PLACE, asked, admin))["data"]["placeLegalHold"]
    assert (placed["plate"], placed["caseNumber"], placed["active"]) == ("HD001", "K-1", True)
    assert placed["createdBy"] == f"admin-key ({admin_id})"
    both = await gql(
        client, PLACE, {**asked, "eventId": "00000000-0000-0000-0000-000000000001"}, admin
    )
    assert error_codes(both) == ["BAD_USER_INPUT"]
    bad = await gql(client, PLACE, {"eventId": "nope", "reason": "x"}, admin)
    assert error_codes(bad) == ["BAD_USER_INPUT"]

    assert error_codes(
        await gql(client, RELEASE, {"id": placed["id"], "reason": "done"}, keys["read"][1])
    ) == ["FORBIDDEN"]
    released = await gql(client, RELEASE, {"id": placed["id"], "reason": "done"}, admin)
    assert released["data"]["releaseLegalHolds"] == [
        {
            "id": placed["id"],
            "active": False,
            "releasedBy": f"admin-key ({admin_id})",
            "releaseReason": "done",
        }
    ]
    again = await gql(client, RELEASE, {"id": placed["id"], "reason": "done"}, admin)
    assert error_codes(again) == ["NOT_FOUND"]
    audited = await pool.fetch(
        "SELECT operation, variables FROM audit_log WHERE key_id = $1 ORDER BY audit_id", admin_id
    )
    # Refused requests change nothing and are not recorded; a release that
    # found nothing to release is an attempt on plate data: recorded.
    assert [r["operation"] for r in audited] == ["Place", "Release", "Release"]
    assert json.loads(audited[0]["variables"])["placeLegalHold"]["plate"] == "hd 001"


FILE = "plate,reason,region\nUP001,stolen,TX\nUP002,stolen,TX\n,stolen,TX\nUP001,stolen,TX\n"


async def test_import_previews_then_applies(
    client: httpx.AsyncClient, keys: dict[str, tuple[str, dict[str, str]]], pool: asyncpg.Pool[Any]
) -> None:
    await hotlists.create_hotlist(pool, HotlistSpec(name="uploads"), Actor("setup"))
    asked = {"content": FILE, "dryRun": True, "replace": False}
    assert error_codes(await gql(client, IMPORT, asked, keys["read"][1])) == ["FORBIDDEN"]
    key_id, writer = keys["hotlist"]
    preview = (await gql(client, IMPORT, asked, writer))["data"]["importHotlistFile"]
    assert (preview["dryRun"], preview["rows"], preview["added"], preview["rejectedCount"]) == (
        True,
        4,
        2,
        2,
    )
    assert sorted(preview["addedPlates"]) == ["UP001 TX", "UP002 TX"]
    assert [r["line"] for r in preview["rejected"]] == [4, 5]
    assert "duplicate of line 2" in preview["rejected"][1]["reason"]
    assert await pool.fetchval("SELECT count(*) FROM hotlist_entries WHERE plate LIKE 'UP%'") == 0
    revision = await pool.fetchval("SELECT revision FROM hotlists WHERE name = 'uploads'")

    done = (await gql(client, IMPORT, {**asked, "dryRun": False}, writer))["data"]
    report = done["importHotlistFile"]
    assert (report["dryRun"], report["added"], report["revision"]) == (False, 2, revision + 1)
    assert await pool.fetchval("SELECT count(*) FROM hotlist_entries WHERE plate LIKE 'UP%'") == 2
    # A replace that names only UP002 would remove UP001: previewed, not done.
    only = {"content": "plate,reason,region\nUP002,recovered,TX\n", "dryRun": True, "replace": True}
    diff = (await gql(client, IMPORT, only, writer))["data"]["importHotlistFile"]
    assert diff["removedPlates"] == ["UP001 TX"] and diff["changedPlates"] == ["UP002 TX"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM hotlist_entries WHERE plate LIKE 'UP%' AND removed_at IS NULL"
        )
        == 2
    )
    operations = await pool.fetch(
        "SELECT operation FROM audit_log WHERE key_id = $1 ORDER BY audit_id", key_id
    )
    assert "hotlist.import" in [r["operation"] for r in operations]  # the applied one


async def test_fuzzy_misreads(
    client: httpx.AsyncClient, keys: dict[str, tuple[str, dict[str, str]]]
) -> None:
    body = await gql(
        client, MISREADS, {"plate": "ab-123", "cost": 0.5, "first": 100}, keys["read"][1]
    )
    assert "errors" not in body, body
    preview = body["data"]["fuzzyMisreads"]
    assert preview["plate"] == "AB123" and not preview["more"]
    costs = [m["cost"] for m in preview["misreads"]]
    assert costs == sorted(costs) and set(costs) == {0.25, 0.5}
    first = preview["misreads"][0]
    assert first["edits"][0]["kind"] == "confusion"
    too_far = await gql(
        client, MISREADS, {"plate": "AB123", "cost": 2.5, "first": 10}, keys["read"][1]
    )
    assert error_codes(too_far) == ["BAD_USER_INPUT"]
