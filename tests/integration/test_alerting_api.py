"""Hotlists and alerts through a real gateway (uvicorn): GraphQL and REST,
scopes (a read key cannot change anything), audit records of every change and
of every read of entries and alerts, secrets never shown, triage rules, the
report without plates, and purposes where they are required."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from core.keys import create_key
from tests.integration.alert_rows import raise_alert
from tests.integration.gateway_server import error_codes, gql, serve, settings_for

SECRET = "whsec-0123456789abcdef"


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool[Any]) -> dict[str, dict[str, str]]:
    made = {}
    for name, scopes in {
        "read": ["read"],
        "hotlist": ["read", "hotlist"],
        "triage": ["read", "triage"],
    }.items():
        key_id, token = await create_key(pool, f"{name}-key", scopes)  # type: ignore[arg-type]
        made[name] = {"Authorization": f"Bearer {token}", "X-Purpose": f"{name} work", "id": key_id}
    return made


def _headers(key: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in key.items() if k != "id"}


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings_for(database_url, require_keys=True)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            yield client


CREATE = """mutation($input: HotlistInput!) {
  createHotlist(input: $input) { id name priority stale entryCount maxAgeSeconds }
}"""
ADD = """mutation($h: String!, $e: HotlistEntryInput!) {
  addHotlistEntry(hotlist: $h, entry: $e) { id plate region reason effectiveMode active }
}"""
ENTRIES = """query($name: String!, $after: String) {
  hotlist(name: $name) { name entryCount entries(first: 1, after: $after) {
    edges { cursor node { plate reason } } pageInfo { hasNextPage endCursor } } }
}"""


async def _audit(pool: asyncpg.Pool[Any], key_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT operation, purpose, result_count, variables::text AS v FROM audit_log"
        " WHERE key_id = $1 ORDER BY audit_id",
        key_id,
    )


async def test_graphql_hotlists_by_scope(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], pool: asyncpg.Pool[Any]
) -> None:
    spec = {"name": "gql list", "priority": 80, "maxAgeSeconds": 86400}
    refused = await gql(client, CREATE, {"input": spec}, _headers(keys["read"]))
    assert error_codes(refused) == ["FORBIDDEN"]
    made = await gql(client, CREATE, {"input": spec}, _headers(keys["hotlist"]))
    assert made["data"]["createHotlist"]["priority"] == 80, made
    for plate in ("gql-001", "gql-002"):
        added = await gql(
            client,
            ADD,
            {"h": "gql list", "e": {"plate": plate, "reason": "stolen"}},
            _headers(keys["hotlist"]),
        )
        assert added["data"]["addHotlistEntry"]["effectiveMode"] == "EXACT", added
    bad = await gql(
        client,
        ADD,
        {"h": "gql list", "e": {"plate": "??", "reason": "x"}},
        _headers(keys["hotlist"]),
    )
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    no_list = await gql(
        client, ADD, {"h": "nope", "e": {"plate": "X1", "reason": "x"}}, _headers(keys["hotlist"])
    )
    assert error_codes(no_list) == ["NOT_FOUND"]

    page = await gql(client, ENTRIES, {"name": "gql list"}, _headers(keys["read"]))
    listed = page["data"]["hotlist"]
    assert listed["entryCount"] == 2
    assert [e["node"]["plate"] for e in listed["entries"]["edges"]] == ["GQL002"]
    after = listed["entries"]["pageInfo"]["endCursor"]
    rest = await gql(client, ENTRIES, {"name": "gql list", "after": after}, _headers(keys["read"]))
    assert [e["node"]["plate"] for e in rest["data"]["hotlist"]["entries"]["edges"]] == ["GQL001"]

    entry_id = added["data"]["addHotlistEntry"]["id"]
    manager = _headers(keys["hotlist"])
    doc = """mutation($id: ID!) {
      updateHotlistEntry(id: $id, changes: {notes: "grey", matchMode: FUZZY, maxCost: 0.5}) {
        notes effectiveMode effectiveMaxCost }
      }"""
    updated = await gql(client, doc, {"id": entry_id}, manager)
    assert updated["data"]["updateHotlistEntry"] == {
        "notes": "grey",
        "effectiveMode": "FUZZY",
        "effectiveMaxCost": 0.5,
    }
    doc = 'mutation($id: ID!) { removeHotlistEntry(id: $id, purpose: "gone") { active removedBy } }'
    removed = await gql(client, doc, {"id": entry_id}, manager)
    assert removed["data"]["removeHotlistEntry"]["active"] is False
    assert removed["data"]["removeHotlistEntry"]["removedBy"].startswith("hotlist-key (")
    doc = 'mutation { updateHotlist(name: "gql list", changes: {priority: 10}) { priority } }'
    assert (await gql(client, doc, None, manager))["data"]["updateHotlist"]["priority"] == 10
    await pool.execute(
        "UPDATE hotlists SET refreshed_at = now() - interval '2 days' WHERE name = 'gql list'"
    )
    stale = await gql(client, 'query { hotlist(name: "gql list") { stale } }', None, manager)
    assert stale["data"]["hotlist"]["stale"] is True
    doc = 'mutation { deleteHotlist(name: "gql list") { deletedAt } }'
    assert (await gql(client, doc, None, manager))["data"]["deleteHotlist"]["deletedAt"]
    changes = await _audit(pool, keys["hotlist"]["id"])
    assert [r["operation"] for r in changes] == [
        "hotlist.create",
        "hotlist.entry.add",
        "hotlist.entry.add",
        "hotlist.entry.update",
        "hotlist.entry.remove",
        "hotlist.update",
        "hotlist.delete",
    ]
    assert changes[4]["purpose"] == "gone" and changes[3]["purpose"] == "hotlist work"
    reads = await _audit(pool, keys["read"]["id"])
    assert [r["result_count"] for r in reads] == [1, 1]  # the entry pages, audited
    assert all(r["purpose"] == "read work" for r in reads)


async def test_webhook_secret_never_leaves(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], pool: asyncpg.Pool[Any]
) -> None:
    headers = _headers(keys["hotlist"])
    await gql(client, CREATE, {"input": {"name": "hooked"}}, headers)
    doc = """mutation($s: String!) { setHotlistWebhook(hotlist: "hooked",
      url: "https://receiver.test/alpr", secret: $s) { url enabled } }"""
    set_ = await gql(client, doc, {"s": SECRET}, headers)
    assert set_["data"]["setHotlistWebhook"] == {
        "url": "https://receiver.test/alpr",
        "enabled": True,
    }
    short = await gql(client, doc, {"s": "short"}, headers)
    assert error_codes(short) == ["BAD_USER_INPUT"]
    shown = await client.get("/hotlists/hooked/webhook", headers=headers)
    assert shown.status_code == 200 and SECRET not in shown.text
    put = await client.put(
        "/hotlists/hooked/webhook",
        json={"url": "https://r.test/x", "secret": SECRET},
        headers=headers,
    )
    assert put.status_code == 200 and SECRET not in put.text
    every = await pool.fetch("SELECT variables::text AS v FROM audit_log")
    assert not [r for r in every if SECRET in r["v"]]
    removed = await client.delete("/hotlists/hooked/webhook", headers=headers)
    assert removed.json() == {"removed": True}


async def test_rest_hotlists(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], pool: asyncpg.Pool[Any]
) -> None:
    manager, reader = _headers(keys["hotlist"]), _headers(keys["read"])
    assert (
        await client.post("/hotlists", json={"name": "rest"}, headers=reader)
    ).status_code == 403
    made = await client.post("/hotlists", json={"name": "rest", "max_age": 3600}, headers=manager)
    assert made.status_code == 201, made.text
    entry = await client.post(
        "/hotlists/rest/entries", json={"plate": "r-1 23", "reason": "wanted"}, headers=manager
    )
    assert entry.status_code == 201 and entry.json()["plate"] == "R123"
    entry_id = entry.json()["entry_id"]
    assert (
        await client.patch(f"/hotlists/entries/{entry_id}", json={"notes": "x"}, headers=reader)
    ).status_code == 403
    patched = await client.patch(
        f"/hotlists/entries/{entry_id}", json={"notes": "red van"}, headers=manager
    )
    assert patched.json()["notes"] == "red van"
    listed = await client.get("/hotlists/rest/entries", headers=reader)
    assert [e["plate"] for e in listed.json()] == ["R123"]
    gone = await client.delete(f"/hotlists/entries/{entry_id}", headers=manager)
    assert gone.json()["removed_at"] is not None
    changed = await client.patch("/hotlists/rest", json={"priority": 99}, headers=manager)
    assert changed.json()["priority"] == 99
    assert (await client.get("/hotlists/rest", headers=reader)).json()["entry_count"] == 0
    assert (await client.delete("/hotlists/rest", headers=manager)).status_code == 200
    assert (await client.get("/hotlists/rest", headers=reader)).status_code == 404
    operations = [r["operation"] for r in await _audit(pool, keys["hotlist"]["id"])]
    for operation in (
        "hotlist.entry.update",
        "hotlist.entry.remove",
        "hotlist.update",
        "hotlist.delete",
    ):
        assert operation in operations
    spec = (await client.get("/openapi.json")).json()
    assert (
        "/hotlists/{name}/entries" in spec["paths"] and "/alerts/{alert_id}/close" in spec["paths"]
    )


ALERT = """query($id: ID!) { alert(id: $id) {
  id status plateRead hotlistName reason readCount
  reads { eventId confidence event { plateNormalized cameraId } }
  entry { plate reason } hotlist { name priority } } }"""
ACK = "mutation($id: ID!) { acknowledgeAlert(id: $id) { status acknowledgedBy } }"
CLOSE = """mutation($id: ID!, $d: Disposition!, $c: ChecklistInput) {
  closeAlert(id: $id, disposition: $d, note: "seen", checklist: $c) {
    status disposition closedBy checklist { imageMatchesEntry } } }"""


async def test_graphql_alerts_and_triage(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], pool: asyncpg.Pool[Any]
) -> None:
    alert_id = await raise_alert(pool, "gql alerts", "ALR001", reads=3)
    other = await raise_alert(pool, "gql alerts", "ALR002", camera="cam-9", site="east")
    reader, triage = _headers(keys["read"]), _headers(keys["triage"])
    found = await gql(client, ALERT, {"id": str(alert_id)}, reader)
    alert = found["data"]["alert"]
    assert (alert["status"], alert["hotlistName"], alert["readCount"]) == ("NEW", "gql alerts", 3)
    assert [r["event"]["plateNormalized"] for r in alert["reads"]] == ["ALR001"] * 3
    assert alert["entry"] == {"plate": "ALR001", "reason": "stolen"}
    page = await gql(
        client,
        'query { alerts(filter: {site: "east"}, first: 5) { edges { node { id } } } }',
        None,
        reader,
    )
    assert [e["node"]["id"] for e in page["data"]["alerts"]["edges"]] == [str(other)]

    assert error_codes(await gql(client, ACK, {"id": str(alert_id)}, reader)) == ["FORBIDDEN"]
    acked = await gql(client, ACK, {"id": str(alert_id)}, triage)
    assert acked["data"]["acknowledgeAlert"]["status"] == "ACKNOWLEDGED"
    again = await gql(client, ACK, {"id": str(alert_id)}, triage)
    assert error_codes(again) == ["BAD_USER_INPUT"]
    unverified = await gql(client, CLOSE, {"id": str(alert_id), "d": "CONFIRMED"}, triage)
    assert error_codes(unverified) == ["BAD_USER_INPUT"]
    checklist = {"imageMatchesEntry": True, "regionMatches": True, "entryStillActive": True}
    closed = await gql(
        client, CLOSE, {"id": str(alert_id), "d": "CONFIRMED", "c": checklist}, triage
    )
    assert closed["data"]["closeAlert"]["status"] == "CLOSED", closed
    late = await gql(client, ACK, {"id": str(alert_id)}, triage)
    assert error_codes(late) == ["BAD_USER_INPUT"]
    rest_ack = await client.post(f"/alerts/{alert_id}/acknowledge", headers=triage)
    assert rest_ack.status_code == 422
    rest_close = await client.post(
        f"/alerts/{other}/close", json={"disposition": "misread"}, headers=triage
    )
    assert rest_close.status_code == 200 and rest_close.json()["status"] == "closed"

    triaged = await _audit(pool, keys["triage"]["id"])
    assert [r["operation"] for r in triaged] == ["alert.acknowledge", "alert.close", "alert.close"]
    assert all(r["purpose"] == "triage work" for r in triaged)
    read_ops = [r["operation"] for r in await _audit(pool, keys["read"]["id"])]
    assert "query alert" in read_ops and "query alerts" in read_ops


async def test_rest_alerts_and_report(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], pool: asyncpg.Pool[Any]
) -> None:
    alert_id = await raise_alert(pool, "rest alerts", "RAL001", reason="amber", reads=2)
    reader = _headers(keys["read"])
    listed = await client.get("/alerts", params={"hotlist": "rest alerts"}, headers=reader)
    assert [a["alert_id"] for a in listed.json()] == [alert_id]
    detail = await client.get(f"/alerts/{alert_id}", headers=reader)
    body = detail.json()
    assert body["entry"]["plate"] == "RAL001" and len(body["reads"]) == 2
    assert body["reads"][0]["plate_normalized_text"] == "RAL001"
    now = datetime.now(UTC)
    window = {"since": (now - timedelta(days=1)).isoformat(), "until": now.isoformat()}
    report = await client.get("/alerts/report", params=window, headers=reader)
    assert report.status_code == 200
    assert "RAL001" not in report.text
    rows = [r for r in report.json() if r["hotlist"] == "rest alerts"]
    assert rows == [
        {
            "hotlist": "rest alerts",
            "reason": "amber",
            "status": "new",
            "disposition": None,
            "historical": False,
            "alerts": 1,
            "reads": 2,
        }
    ]
    doc = """query($s: DateTime!, $u: DateTime!) {
      alertReport(since: $s, until: $u) { hotlist reason alerts } }"""
    gql_report = await gql(client, doc, {"s": window["since"], "u": window["until"]}, reader)
    assert {"hotlist": "rest alerts", "reason": "amber", "alerts": 1} in gql_report["data"][
        "alertReport"
    ]
    assert "RAL001" not in json.dumps(gql_report)
    audited = await pool.fetch(
        "SELECT operation FROM audit_log WHERE key_id = $1 AND operation LIKE 'GET /alerts%'",
        keys["read"]["id"],
    )
    assert {r["operation"] for r in audited} == {"GET /alerts", "GET /alerts/{alert_id}"}


async def test_purpose_required_for_changes(database_url: str, pool: asyncpg.Pool[Any]) -> None:
    settings = settings_for(database_url, require_purpose=True)
    async with serve(settings) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        without = await gql(client, CREATE, {"input": {"name": "purposed"}})
        assert error_codes(without) == ["FORBIDDEN"]
        doc = 'mutation { createHotlist(input: {name: "purposed"}, purpose: "case 12") { name } }'
        made = await gql(client, doc)
        assert made["data"]["createHotlist"]["name"] == "purposed"
        rest = await client.post("/hotlists/purposed/entries", json={"plate": "P1", "reason": "x"})
        assert rest.status_code == 403
        ok = await client.post(
            "/hotlists/purposed/entries",
            json={"plate": "P1", "reason": "x"},
            params={"purpose": "case 12"},
        )
        assert ok.status_code == 201
    purposes = await pool.fetch(
        "SELECT purpose FROM audit_log WHERE operation IN ('hotlist.create', 'hotlist.entry.add')"
        " AND variables->>'hotlist' = 'purposed' OR variables->>'name' = 'purposed'"
    )
    assert [r["purpose"] for r in purposes] == ["case 12", "case 12"]


# Client mistakes the API fuzz found answered 500 (the database refused the
# row): each is a 4xx naming its parameter, with no driver text.
PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()
BAD_REQUESTS = [
    ("post", "/hotlists", {"name": "fz-cost", "max_cost": 5e-324}, 422, "max_cost"),
    ("post", "/hotlists", {"name": "fz-nul", "description": "a\u0000b"}, 422, "description"),
    ("post", "/hotlists", {"name": "fz-age", "max_age": 193792608000}, 422, "max_age"),
    ("post", "/hotlists/fzbad/entries", {"plate": "AB1", "reason": "x\u0000"}, 422, "reason"),
    (
        "post",
        "/hotlists/fzbad/entries",
        {"plate": "AB1", "reason": "r", "details": {"k": "\u0000"}},
        422,
        "details",
    ),
    (
        "post",
        "/hotlists/fzbad/entries",
        {"plate": "AB1", "reason": "r", "valid_until": PAST},
        422,
        "validUntil",
    ),
    ("patch", f"/hotlists/entries/{2**63}", {"notes": "x"}, 404, "hotlist entry"),
    ("delete", f"/hotlists/entries/{2**63}", None, 404, "hotlist entry"),
    ("get", f"/alerts/{2**63}", None, 404, "alert"),
    ("get", "/hotlists/a%00b", None, 422, "hotlist"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "named"), BAD_REQUESTS)
async def test_rest_client_mistakes_are_4xx(
    client: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    named: str,
) -> None:
    manager = _headers(keys["hotlist"])
    await client.post("/hotlists", json={"name": "fzbad"}, headers=manager)
    kwargs: dict[str, Any] = (
        {"headers": manager} if body is None else {"headers": manager, "json": body}
    )
    answer = await client.request(method.upper(), path, **kwargs)
    assert answer.status_code == status, answer.text
    assert named in answer.text and "asyncpg" not in answer.text and "violates" not in answer.text


async def test_graphql_max_age_beyond_int_is_bad_user_input(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    variables = {"input": {"name": "fz-gql-age", "maxAgeSeconds": 2**31 - 1 + 1}}
    body = await gql(client, CREATE, variables, _headers(keys["hotlist"]))
    # 2**31 is beyond GraphQL's Int: refused while coercing variables.
    assert body.get("data") is None and body["errors"]
    small = {"input": {"name": "fz-gql-cost", "maxCost": 5e-324}}
    body = await gql(client, CREATE, small, _headers(keys["hotlist"]))
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert "max" in json.dumps(body["errors"]).lower()
