"""What one request may carry (gateway/limits.py) and the labels /metrics may show
(gateway/metrics.py), without a server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import GraphQLSchema, parse
from starlette.types import Message, Receive, Scope, Send

from gateway.graphql_schema import build_schema
from gateway.limits import MAX_JSON_DEPTH, JSONTooDeep, RequestLimits, load_json
from gateway.metrics import method_label, operation_label
from gateway.strawberry_internals import graphql_core_schema

LIMIT = 1024


def test_json_nested_within_the_limit_loads() -> None:
    value: Any = 1
    for _ in range(MAX_JSON_DEPTH - 1):
        value = [value]
    assert load_json(json.dumps({"variables": value})) == {"variables": value}
    assert load_json('{"query": "{ sites { id } }"}') == {"query": "{ sites { id } }"}


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 10_000, 200_000])
def test_json_nested_deeper_is_refused_as_bad_json(depth: int) -> None:
    text = "[" * depth + "]" * depth
    with pytest.raises(JSONTooDeep):
        load_json(text)
    mixed = '{"a": ' * depth + "1" + "}" * depth
    with pytest.raises(json.JSONDecodeError):  # what Strawberry's websocket handlers catch
        load_json(mixed)


class App:
    """An app that reads the whole body and answers 200 with its size."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


async def _call(
    headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/graphql"
) -> tuple[App, list[Message], int]:
    """Run RequestLimits over App; returns the app, what was sent, and the messages read."""
    app = App()
    limits = RequestLimits(app, max_body_bytes=LIMIT, graphql_path="/graphql")
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    read = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    await limits(scope, receive, send)
    return app, sent, read


async def test_a_declared_body_over_the_limit_is_refused_unread() -> None:
    app, sent, read = await _call([(b"content-length", str(LIMIT + 1).encode())], [b"x"])
    assert not app.called and read == 0
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    body = json.loads(sent[1]["body"])
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "ALPR_MAX_REQUEST_BYTES" in body["errors"][0]["message"]
    _, rest, _ = await _call([(b"content-length", b"999999999")], [], path="/admin/holds")
    assert json.loads(rest[1]["body"])["code"] == "BAD_USER_INPUT"


async def test_a_declared_body_within_the_limit_passes_untouched() -> None:
    app, sent, read = await _call([(b"content-length", str(LIMIT).encode())], [b"x" * LIMIT])
    assert app.called and sent[1]["body"] == str(LIMIT).encode() and read == 1


async def test_a_chunked_body_is_read_up_to_the_limit_only() -> None:
    chunked = [(b"transfer-encoding", b"chunked")]
    chunks = [b"x" * 300] * 10  # 3,000 bytes
    app, sent, read = await _call(chunked, chunks)
    assert not app.called and sent[0]["status"] == 413
    assert read == 4  # stopped at the first chunk past 1,024 bytes
    app, sent, _ = await _call(chunked, [b"x" * 300] * 3)
    assert app.called and sent[1]["body"] == b"900"


async def test_no_body_passes() -> None:
    app, sent, _ = await _call([], [b""])
    assert app.called and sent[0]["status"] == 200


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return graphql_core_schema(build_schema())


@pytest.mark.parametrize(
    ("query", "name", "label"),
    [
        ("{ stats { totalReads } }", None, "query stats"),
        (
            "query MyDashboard { a: stats { totalReads } b: stats { totalReads } }",
            None,
            "query stats",
        ),
        ("{ ...F } fragment F on Query { sites { id } }", None, "query sites"),
        ("{ ... on Query { sites { id } } }", None, "query sites"),
        ("{ sites { id } stats { totalReads } }", None, "query several"),
        ("{ __typename }", None, "query __typename"),
        ("subscription { plateDetected { id } }", None, "subscription plateDetected"),
        # Made-up names, client names and missing operations are never labels.
        ("{ madeUpName123 }", None, "other"),
        ("{ ...madeUpFragment }", None, "other"),
        ("{ madeUpName stats { totalReads } }", None, "query stats"),
        ("query A { sites { id } } query B { stats { totalReads } }", "B", "query stats"),
        ("query A { sites { id } } query B { stats { totalReads } }", "C", "other"),
        ("query A { sites { id } } query B { stats { totalReads } }", None, "other"),
    ],
)
def test_operation_labels_come_from_the_schema(
    schema: GraphQLSchema, query: str, name: str | None, label: str
) -> None:
    assert operation_label(schema, parse(query), name) == label


def test_method_labels_are_the_http_methods() -> None:
    assert method_label("GET") == "GET"
    assert method_label("PROPFIND") == "other"
    assert method_label("get") == "other"
