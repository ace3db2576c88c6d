"""Who is asking: API keys from headers or the websocket's connection_init payload.

With keys required, every request names a valid key with the `read` scope.
With keys off (loopback only, set explicitly) a key is still checked when one
is sent, so audit records name it.

Every refused key is counted (`alpr_gateway_auth_failures` by transport and
reason) and logged at WARNING with the client's address and, when the token
is shaped like ours, its public key_id, never more of it. An address that
sent `auth_failure_limit` wrong keys (unknown, revoked or expired) within
`auth_failure_window_s` is refused every key check (429, websocket close
4429) until its window ends. Open websockets whose key is revoked or expires
are closed (4403) by `watch_keys` within `key_check_interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

from core.keys import ApiKey, Scope, authenticate, bearer_token, public_key_id, valid_key_ids
from core.keys import token_from_headers as token_from_headers
from gateway.context import Context, GatewayState
from gateway.metrics import AUTH_FAILURES
from schema.errors import AuthError, RateLimited, StorageError

log = logging.getLogger(__name__)

# Failures that guess at a secret; a missing key or a missing scope does not.
_GUESSES: Final = frozenset({"unknown", "revoked", "expired"})
CLOSE_FORBIDDEN: Final = 4403
CLOSE_TOO_MANY: Final = 4429


class FailedAttempts:
    """Wrong keys per client address, in fixed windows; at most `max_clients` tracked
    (the oldest window is forgotten first)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    def check(self, client: str | None) -> None:
        """Raise `RateLimited` when `client` used up its failures for this window."""
        window = self._windows.get(client or "")
        if window is None:
            return
        left = window[0] + self.window_s - self._clock()
        if left <= 0:
            del self._windows[client or ""]
        elif window[1] >= self.limit:
            raise RateLimited(left)

    def note(self, client: str | None) -> None:
        """Count one failure of `client`."""
        now = self._clock()
        started, count = self._windows.pop(client or "", (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        self._windows[client or ""] = (started, count + 1)
        while len(self._windows) > self.max_clients:
            self._windows.popitem(last=False)


async def check_key(
    state: GatewayState,
    token: str | None,
    scope: Scope,
    client: str | None,
    transport: str,
) -> ApiKey:
    """The valid key behind `token` allowing `scope`, with failures counted,
    logged and limited per client address."""
    try:
        state.failures.check(client)
        return await authenticate(state.pool, token, scope, state.keys)
    except AuthError as exc:
        _refused(state, exc, token, client, transport)
        raise


def _refused(
    state: GatewayState, exc: AuthError, token: str | None, client: str | None, transport: str
) -> None:
    AUTH_FAILURES.labels(transport, exc.reason).inc()
    log.warning(
        "authentication refused: transport=%s reason=%s client=%s key_id=%s",
        transport,
        exc.reason,
        client,
        public_key_id(token),
    )
    if exc.reason in _GUESSES:
        state.failures.note(client)


async def identify(
    state: GatewayState, token: str | None, client: str | None, transport: str
) -> ApiKey | None:
    """The caller's key (scope `read`), or None when keys are off and none was sent."""
    if token is None and not state.keys_required:
        return None
    return await check_key(state, token, "read", client, transport)


def token_from_params(params: Mapping[str, Any]) -> str | None:
    """The key of a connection_init payload: `authorization`, `Authorization` or `apiKey`."""
    for name in ("authorization", "Authorization", "apiKey", "api_key"):
        value = params.get(name)
        if isinstance(value, str) and value:
            return bearer_token(value) or value
    return None


async def close_revoked(state: GatewayState) -> int:
    """Close the open websockets whose key is revoked or expired; returns how many."""
    open_ = [ctx for ctx in list(state.sockets) if ctx.key is not None and ctx.connection]
    if not open_:
        return 0
    valid = await valid_key_ids(state.pool, {ctx.key.key_id for ctx in open_ if ctx.key})
    gone = [ctx for ctx in open_ if ctx.key is not None and ctx.key.key_id not in valid]
    for ctx in gone:
        state.sockets.discard(ctx)
        log.warning(
            "closing a websocket: key_id=%s was revoked or expired",
            ctx.key.key_id if ctx.key else None,
        )
    await asyncio.gather(*(_close_forbidden(ctx) for ctx in gone))
    return len(gone)


async def _close_forbidden(ctx: Context) -> None:
    if ctx.connection is not None:
        await ctx.connection.close_connection(CLOSE_FORBIDDEN, "Forbidden: key revoked or expired")


async def watch_keys(state: GatewayState, interval_s: float) -> None:
    """Run `close_revoked` every `interval_s` until cancelled; a failed round
    (a database outage) is logged and the next one tries again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await close_revoked(state)
        except StorageError as exc:
            log.warning("checking the keys of open websockets failed: %s", type(exc).__name__)
        except Exception:
            # A fault of ours must not end the watch: revocation depends on it.
            log.exception("checking the keys of open websockets failed")
