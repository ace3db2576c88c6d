"""Text PostgreSQL cannot hold (a NUL character, a lone surrogate) in any
text or filter parameter of the hotlist and alert APIs, `purpose` included:
REST answers 4xx naming the parameter, GraphQL BAD_USER_INPUT naming it;
never a 500, never the driver's words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from core.keys import create_key
from tests.integration.alert_rows import raise_alert
from tests.integration.gateway_server import error_codes, serve, settings_for

NUL = "a\x00b"
LONE = "a\ud800b"
# Query strings and paths carry UTF-8: a lone surrogate cannot be sent there.
NUL_URL = "a%00b"
SECRET = "whsec-0123456789abcdef"
LIST = "checks"


@pytest.fixture(scope="module")
async def setup(database_url: str, pool: asyncpg.Pool[Any]) -> AsyncIterator[dict[str, Any]]:
    _, token = await create_key(pool, "input checks", ["read", "hotlist", "triage"])
    alert_id = await raise_alert(pool, LIST, "CHK123")
    entry_id = await pool.fetchval("SELECT entry_id FROM alerts WHERE alert_id = $1", alert_id)
    async with serve(settings_for(database_url, require_keys=True)) as url:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            yield {"client": client, "alert": alert_id, "entry": entry_id}


def _rest_cases() -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, JSON body, the parameter the answer must name); {alert},
    {entry} are filled in. A list's name, in a path or an argument, is named
    `hotlist`."""
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = []
    for bad in (NUL, LONE):
        cases += [
            ("post", "/hotlists", {"name": bad}, "name"),
            ("post", "/hotlists", {"name": "fine", "description": bad}, "description"),
            ("post", "/hotlists", {"name": "fine", "source": bad}, "source"),
            ("post", "/hotlists", {"name": "fine", "site_ids": [bad]}, "site_ids"),
            ("post", "/hotlists", {"name": "fine", "camera_ids": [bad]}, "camera_ids"),
            ("patch", f"/hotlists/{LIST}", {"description": bad}, "description"),
            ("patch", f"/hotlists/{LIST}", {"source": bad}, "source"),
            ("post", f"/hotlists/{LIST}/entries", {"plate": bad, "reason": "r"}, "plate"),
            ("post", f"/hotlists/{LIST}/entries", {"plate": "P1", "reason": bad}, "reason"),
        ]
        for name in ("region", "case_number", "agency", "record_number", "notes"):
            body = {"plate": "P1", "reason": "r", name: bad}
            cases.append(("post", f"/hotlists/{LIST}/entries", body, name))
        for name in ("reason", "case_number", "agency", "record_number", "notes"):
            cases.append(("patch", "/hotlists/entries/{entry}", {name: bad}, name))
        cases += [
            (
                "put",
                f"/hotlists/{LIST}/webhook",
                {"url": f"http://x/{bad}", "secret": SECRET},
                "url",
            ),
            (
                "put",
                f"/hotlists/{LIST}/webhook",
                {"url": "http://x/", "secret": SECRET + bad},
                "secret",
            ),
            ("post", "/alerts/{alert}/close", {"disposition": "misread", "note": bad}, "note"),
        ]
    cases += [
        ("get", f"/hotlists/{NUL_URL}", None, "hotlist"),
        ("patch", f"/hotlists/{NUL_URL}", {"description": "d"}, "hotlist"),
        ("delete", f"/hotlists/{NUL_URL}", None, "hotlist"),
        ("get", f"/hotlists/{NUL_URL}/entries", None, "hotlist"),
        ("post", f"/hotlists/{NUL_URL}/entries", {"plate": "P1", "reason": "r"}, "hotlist"),
        ("get", f"/hotlists/{NUL_URL}/webhook", None, "hotlist"),
        ("delete", f"/hotlists/{NUL_URL}/webhook", None, "hotlist"),
        ("get", f"/hotlists/{LIST}/entries?plate={NUL_URL}", None, "plate"),
        ("get", f"/hotlists/{LIST}/entries?reason={NUL_URL}", None, "reason"),
        ("get", f"/hotlists/{LIST}/entries?cursor={NUL_URL}", None, "cursor"),
        ("get", f"/alerts?hotlist={NUL_URL}", None, "hotlist"),
        ("get", f"/alerts?site={NUL_URL}", None, "site"),
        ("get", f"/alerts?camera={NUL_URL}", None, "camera"),
        ("get", f"/alerts?cursor={NUL_URL}", None, "cursor"),
        ("post", f"/hotlists?purpose={NUL_URL}", {"name": "fine"}, "purpose"),
        ("patch", f"/hotlists/{LIST}?purpose={NUL_URL}", {"description": "d"}, "purpose"),
        ("delete", f"/hotlists/{LIST}?purpose={NUL_URL}", None, "purpose"),
        (
            "post",
            f"/hotlists/{LIST}/entries?purpose={NUL_URL}",
            {"plate": "P", "reason": "r"},
            "purpose",
        ),
        ("patch", "/hotlists/entries/{entry}?purpose=" + NUL_URL, {"notes": "n"}, "purpose"),
        ("delete", "/hotlists/entries/{entry}?purpose=" + NUL_URL, None, "purpose"),
        (
            "put",
            f"/hotlists/{LIST}/webhook?purpose={NUL_URL}",
            {"url": "http://x/", "secret": SECRET},
            "purpose",
        ),
        ("delete", f"/hotlists/{LIST}/webhook?purpose={NUL_URL}", None, "purpose"),
        ("post", "/alerts/{alert}/acknowledge?purpose=" + NUL_URL, None, "purpose"),
        ("post", "/alerts/{alert}/close?purpose=" + NUL_URL, {"disposition": "misread"}, "purpose"),
    ]
    return cases


@pytest.mark.parametrize(("method", "path", "body", "named"), _rest_cases())
async def test_rest_names_the_parameter(
    setup: dict[str, Any], method: str, path: str, body: dict[str, Any] | None, named: str
) -> None:
    client: httpx.AsyncClient = setup["client"]
    path = path.replace("{alert}", str(setup["alert"])).replace("{entry}", str(setup["entry"]))
    kwargs: dict[str, Any] = {}
    if body is not None:
        # JSON with the lone surrogate escaped, as a client's encoder sends it.
        kwargs = {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}
    answer = await client.request(method.upper(), path, **kwargs)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert named in answer.text, answer.text
    assert "asyncpg" not in answer.text and "violates" not in answer.text, answer.text


def _graphql_cases() -> list[tuple[str, dict[str, Any], str]]:
    """(document, variables, the argument the error must name); $alert/$entry are filled in."""
    entry = "$entry"
    cases: list[tuple[str, dict[str, Any], str]] = []
    for bad in (NUL, LONE):
        cases += [
            ("query($v: String!) { hotlist(name: $v) { id } }", {"v": bad}, "hotlist"),
            (
                "query($v: String) { alerts(filter: {hotlist: $v}) { edges { cursor } } }",
                {"v": bad},
                "hotlist",
            ),
            (
                "query($v: String) { alerts(filter: {site: $v}) { edges { cursor } } }",
                {"v": bad},
                "site",
            ),
            (
                "query($v: String) { alerts(filter: {camera: $v}) { edges { cursor } } }",
                {"v": bad},
                "camera",
            ),
            (
                "query($v: String) { alerts(after: $v) { edges { cursor } } }",
                {"v": bad},
                "after",
            ),
            (
                'query($v: String) { hotlist(name: "' + LIST + '") '
                "{ entries(filter: {plate: $v}) { edges { cursor } } } }",
                {"v": bad},
                "plate",
            ),
            (
                'query($v: String) { hotlist(name: "' + LIST + '") '
                "{ entries(filter: {reason: $v}) { edges { cursor } } } }",
                {"v": bad},
                "reason",
            ),
            (
                'query($v: String) { hotlist(name: "' + LIST + '") '
                "{ entries(after: $v) { edges { cursor } } } }",
                {"v": bad},
                "after",
            ),
            (
                "mutation($v: String!) { createHotlist(input: {name: $v}) { id } }",
                {"v": bad},
                "name",
            ),
            (
                'mutation($v: String) { createHotlist(input: {name: "fine", description: $v}) '
                "{ id } }",
                {"v": bad},
                "description",
            ),
            (
                'mutation($v: String!) { createHotlist(input: {name: "fine", siteIds: [$v]}) '
                "{ id } }",
                {"v": bad},
                "site",
            ),
            (
                'mutation($v: String) { updateHotlist(name: "' + LIST + '", '
                "changes: {source: $v}) { id } }",
                {"v": bad},
                "source",
            ),
            (
                "mutation($v: String!) { updateHotlist(name: $v, changes: {}) { id } }",
                {"v": bad},
                "hotlist",
            ),
            ("mutation($v: String!) { deleteHotlist(name: $v) { id } }", {"v": bad}, "hotlist"),
            (
                "mutation($v: String!) { addHotlistEntry(hotlist: $v, "
                'entry: {plate: "P1", reason: "r"}) { id } }',
                {"v": bad},
                "hotlist",
            ),
            (
                'mutation($v: String!) { addHotlistEntry(hotlist: "' + LIST + '", '
                'entry: {plate: "P1", reason: $v}) { id } }',
                {"v": bad},
                "reason",
            ),
            (
                'mutation($v: String) { addHotlistEntry(hotlist: "' + LIST + '", '
                'entry: {plate: "P1", reason: "r", notes: $v}) { id } }',
                {"v": bad},
                "notes",
            ),
            (
                "mutation($v: String, $entry: ID!) { updateHotlistEntry(id: $entry, "
                "changes: {caseNumber: $v}) { id } }",
                {"v": bad, "entry": entry},
                "case_number",
            ),
            (
                'mutation($v: String!) { setHotlistWebhook(hotlist: "' + LIST + '", '
                'url: $v, secret: "' + SECRET + '") { url } }',
                {"v": f"http://x/{bad}"},
                "url",
            ),
            (
                "mutation($v: String!) { setHotlistWebhook(hotlist: $v, "
                'url: "http://x/", secret: "' + SECRET + '") { url } }',
                {"v": bad},
                "hotlist",
            ),
            (
                "mutation($v: String!) { removeHotlistWebhook(hotlist: $v) }",
                {"v": bad},
                "hotlist",
            ),
            (
                "mutation($v: String, $alert: ID!) { closeAlert(id: $alert, "
                "disposition: MISREAD, note: $v) { id } }",
                {"v": bad, "alert": "$alert"},
                "note",
            ),
        ]
        for document, extra in (
            ('createHotlist(input: {name: "fine"}, purpose: $v) { id }', {}),
            ('updateHotlist(name: "' + LIST + '", changes: {}, purpose: $v) { id }', {}),
            ('deleteHotlist(name: "' + LIST + '", purpose: $v) { id }', {}),
            (
                'addHotlistEntry(hotlist: "' + LIST + '", '
                'entry: {plate: "P1", reason: "r"}, purpose: $v) { id }',
                {},
            ),
            ("removeHotlistEntry(id: $entry, purpose: $v) { id }", {"entry": entry}),
            ("acknowledgeAlert(id: $alert, purpose: $v) { id }", {"alert": "$alert"}),
            (
                "closeAlert(id: $alert, disposition: MISREAD, purpose: $v) { id }",
                {"alert": "$alert"},
            ),
            ('removeHotlistWebhook(hotlist: "' + LIST + '", purpose: $v)', {}),
        ):
            declared = "".join(f", ${name}: ID!" for name in extra)
            cases.append(
                (f"mutation($v: String{declared}) {{ {document} }}", {"v": bad, **extra}, "purpose")
            )
    return cases


@pytest.mark.parametrize(("document", "variables", "named"), _graphql_cases())
async def test_graphql_names_the_argument(
    setup: dict[str, Any], document: str, variables: dict[str, Any], named: str
) -> None:
    client: httpx.AsyncClient = setup["client"]
    values = {
        k: str(setup["alert"]) if v == "$alert" else str(setup["entry"]) if v == "$entry" else v
        for k, v in variables.items()
    }
    # JSON with a lone surrogate escaped, as a client's encoder sends it.
    payload = json.dumps({"query": document, "variables": values})
    answer = await client.post(
        "/graphql", content=payload, headers={"Content-Type": "application/json"}
    )
    body = answer.json()
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    message = body["errors"][0]["message"]
    assert named in message, body
    assert "asyncpg" not in message and "violates" not in message, body
