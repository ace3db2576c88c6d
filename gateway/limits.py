"""What one request may carry: its body's size, its JSON's nesting.

`RequestLimits` answers before the app runs (no key check, no body read):
413 for a body over the limit, whether its Content-Length says so or a
chunked body grows past it. The server bounds the rest: uvicorn refuses a
request line and headers over 64 KiB (a GET's query string included) with
400, and websocket messages over `ws_max_size`, set from the same setting
(gateway/__main__.py). `load_json` parses a GraphQL body or websocket
message and refuses JSON nested deeper than `MAX_JSON_DEPTH`: nothing the
gateway takes is deeper, and deeper values would overflow the stack of
whoever walks them next (the parser itself, the audit's encoder).
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import refusal_body

MAX_JSON_DEPTH: Final = 32


class JSONTooDeep(json.JSONDecodeError):
    """JSON nested deeper than `MAX_JSON_DEPTH` (a JSONDecodeError, so that
    Strawberry's websocket handlers close the socket as for any bad JSON)."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "", 0)


def load_json(data: str | bytes) -> Any:
    """`data` parsed as JSON; raises JSONDecodeError, `JSONTooDeep` for deep nesting."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONTooDeep from None
    if not _nesting_within(value, MAX_JSON_DEPTH):
        raise JSONTooDeep
    return value


def _nesting_within(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


class RequestLimits:
    """Refuse HTTP request bodies over the limit before the app sees them.

    Plain ASGI, like `gateway.app.RequestTimer`. A declared Content-Length
    is trusted (the server delivers no more than it declares), so such a
    request costs nothing extra; only a chunked body is read here first, up
    to the limit, and handed on whole.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, graphql_path: str) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _body_headers(scope)
        if chunked:
            body = await _read_body(receive, self.max_body_bytes)
            if body is not None:
                await self.app(scope, _replay(body, receive), send)
                return
        elif length is None or length <= self.max_body_bytes:
            await self.app(scope, receive, send)
            return
        message = f"the request body is larger than {self.max_body_bytes} bytes"
        await self._refuse(scope, send, f"{message} (ALPR_MAX_REQUEST_BYTES)")

    async def _refuse(self, scope: Scope, send: Send, message: str) -> None:
        graphql = scope["path"].startswith(self.graphql_path)
        body = orjson.dumps(refusal_body(graphql, message))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The body was not read: close rather than read on to the next request.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length and whether the body is chunked.

    A Content-Length that is not a number counts as too large: the server
    refuses such requests before they get here.
    """
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = int(value) if value.isdigit() else 1 << 63
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client left; the app sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` whole, then what the server sends next (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
