"""Who is asking: API keys from headers or the websocket's connection_init payload.

With keys required, every request names a valid key with the `read` scope.
With keys off (loopback only, set explicitly) a key is still checked when one
is sent, so audit records name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.keys import ApiKey, authenticate, bearer_token
from gateway.context import GatewayState


async def identify(state: GatewayState, token: str | None) -> ApiKey | None:
    """The caller's key, or None when keys are off and none was sent."""
    if token is None and not state.keys_required:
        return None
    return await authenticate(state.pool, token, "read")


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    return bearer_token(headers.get("authorization")) or headers.get("x-api-key") or None


def token_from_params(params: Mapping[str, Any]) -> str | None:
    """The key of a connection_init payload: `authorization`, `Authorization` or `apiKey`."""
    for name in ("authorization", "Authorization", "apiKey", "api_key"):
        value = params.get(name)
        if isinstance(value, str) and value:
            return bearer_token(value) or value
    return None
