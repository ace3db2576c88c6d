"""The ASGI app: GraphQL (queries, GraphiQL, subscriptions), REST twins, health, metrics.

`create_app(settings)` builds everything from explicit settings; pools and
the live feed start in the app's lifespan, so the same factory serves
uvicorn, tests and `alpr up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import asyncpg
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import HTTPConnection
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.types.unset import UNSET, UnsetType

from core.db import create_pool
from core.keys import KeyCache
from core.settings import GatewaySettings, check_keys_off_bind
from gateway import queries, rest, rest_alerts, rest_holds, rest_hotlists, rest_plates
from gateway.alerting import refresh_hotlist_gauges
from gateway.assets import ASSET_DIR, ASSET_PATH, local_ide_html
from gateway.attempts import FailedAttempts
from gateway.auth import (
    CLOSE_TOO_MANY,
    identify,
    token_from_headers,
    token_from_params,
    watch_keys,
)
from gateway.camera_health import export_silent
from gateway.context import Context, GatewayState, clean_purpose
from gateway.dashboard import add_dashboard
from gateway.errors import code_and_status, error_body, public_message
from gateway.graphql_schema import build_schema
from gateway.limits import JSONTooDeep, RequestLimits, load_json
from gateway.live import LiveFeed
from gateway.metrics import REGISTRY, REQUEST_SECONDS, method_label
from gateway.replica import ReadRotation
from gateway.strawberry_internals import (
    LegacyWSHandler,
    TextWebSocket,
    TransportWSHandler,
    ViewError,
)
from schema.errors import AlprError, AuthError, InvalidRequest, RateLimited, StorageError

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
# A runaway filter must not hold a connection for long: client queries are
# bounded, and this is the backstop.
STATEMENT_TIMEOUT_MS = "10000"


class GraphQLApp(GraphQLRouter[Context, None]):
    """Strawberry's router, with bodies and messages checked as JSON of bounded
    nesting (`parse_json`, `decode_json`), the websocket key check in
    connection_init, live reads rendered once per subscription shape
    (`gateway.websocket`) and GraphiQL's files served locally when installed
    (`gateway.assets`)."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    websocket_adapter_class = TextWebSocket

    @property
    def graphql_ide_html(self) -> str:
        return local_ide_html(super().graphql_ide_html)

    def decode_json(self, data: str | bytes) -> object:
        """A body or websocket message; JSON nested too deep is bad JSON (`load_json`)."""
        return load_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP body (or a GET's `variables`): a JSON object, else 400 with the reason.

        A list is a batch, which Strawberry refuses with its own message.
        """
        try:
            value = self.decode_json(data)
        except JSONTooDeep as exc:
            raise ViewError(400, exc.msg) from None
        except json.JSONDecodeError:
            raise ViewError(400, "Unable to parse request body as JSON") from None
        if not isinstance(value, dict | list):
            raise ViewError(400, "the body must be a JSON object with a `query`")
        return value

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        try:
            key = await identify(context.state, token_from_params(params), context.client, "ws")
            context.identify(key, clean_purpose(params.get("purpose")))
        except (AuthError, InvalidRequest) as exc:
            await _refuse_connection(context, exc)
        if context.key is not None:
            context.state.sockets.add(context)  # closed if its key goes (`watch_keys`)
        unset: UnsetType = UNSET
        return unset


async def _refuse_connection(context: Context, exc: AuthError | InvalidRequest) -> NoReturn:
    """Refuse a websocket at connection_init: Strawberry closes it with 4403 (the
    legacy protocol: connection_error), unless it is closed here first (4429, 4400)."""
    code, _ = code_and_status(exc)
    close = {RateLimited: CLOSE_TOO_MANY, InvalidRequest: 4400}.get(type(exc))
    if close is not None and context.connection is not None:
        await context.connection.close_connection(close, public_message(exc))
    raise ConnectionRejectionError({"message": public_message(exc), "code": code}) from None


async def graphql_context(connection: HTTPConnection) -> Context:
    """A request's context; websockets are identified later, in connection_init."""
    state: GatewayState = connection.app.state.gateway
    client = connection.client.host if connection.client else None
    if connection.scope["type"] == "websocket":
        return Context(state, client=client, long_lived=True)
    request = Request(connection.scope)
    # The GraphiQL page itself carries no data; its queries carry the key.
    wants_ide = request.method == "GET" and "query" not in request.query_params
    token = token_from_headers(request.headers)
    key = None if wants_ide else await identify(state, token, client, "http")
    return Context(state, key, clean_purpose(request.headers.get("x-purpose")), client)


async def _connect(settings: GatewaySettings, dsn: str) -> queries.Db:
    # Generic plans: every gateway query is written for its parameters (the
    # partition bounds prune at run time), while a custom plan re-plans over
    # every partition on each call, which costs several times the keyset page
    # itself. No JIT: a generic plan is costed with every branch it might take,
    # so large tables push its estimate past jit_above_cost, and compiling
    # then costs more than any gateway statement runs. Connections are never
    # closed for idling: each holds its generic plans and the catalog entries
    # of the chunks it touched (the events page's generic plan over a year of
    # daily partitions costs ~120 ms once per connection on plain PostgreSQL;
    # a compressed chunk's first touch reads some 700 catalog buffers), and
    # the pool is bounded by ALPR_DB_POOL_MAX anyway. Each new connection
    # plans the events page before it is handed out (`init`, one connection
    # at a time: see _prepare_one_at_a_time), and keeps its prepared
    # statements for its life: asyncpg's default drops each 300 s after it
    # was prepared, and the next call plans it again, while PostgreSQL
    # replans a cached plan itself when its tables change (a partition
    # attached, ANALYZE).
    server_settings = {
        "statement_timeout": STATEMENT_TIMEOUT_MS,
        "plan_cache_mode": "force_generic_plan",
        "jit": "off",
    }
    return await create_pool(
        settings,
        dsn=dsn,
        server_settings=server_settings,
        reset=_keep_session,
        init=functools.partial(_prepare_one_at_a_time, asyncio.Lock()),
        max_inactive_connection_lifetime=0,
        max_cached_statement_lifetime=0,
    )


async def _prepare_one_at_a_time(lock: asyncio.Lock, conn: asyncpg.Connection[Any]) -> None:
    """Plan the events page on a new connection, one connection of the pool at a time.

    Planning the generic plan over a year of daily partitions locks every
    partition and each of its indexes (~2,700 locks at 379 partitions) until
    the transaction ends; a pool opening 16 connections at once overflowed
    PostgreSQL's shared lock table ("out of shared memory") with the default
    max_locks_per_transaction. One at a time, a pool's connections hold
    those locks in turn.
    """
    async with lock:
        await queries.prepare_events_page(conn)


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Release a connection to the pool without asyncpg's reset query.

    asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release, a second round trip for every statement,
    awaited before the caller goes on. The gateway leaves nothing to reset:
    it takes no advisory locks, opens no holdable cursors, listens on its own
    connection (`LiveFeed`), and sets session values only for a transaction
    (`set_config(..., true)`). asyncpg still rolls back a transaction left
    open before this runs.
    """


# Young-generation threshold of the cyclic collector: every request leaves
# cycles (frames, futures, tracebacks); at Python's 700 a page of 100 reads
# ran one or two young collections, and every tenth an older one.
GC_YOUNG_THRESHOLD = 5000


def settle_heap() -> None:
    """Freeze what start-up built and collect less often.

    The schema, the pools and the imported modules are about 100,000 objects
    that live as long as the process; a full collection would walk them all,
    a pause as long as a large page's request. Frozen, they are never walked
    again; with the higher threshold older collections become rare.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def _read_rotation(settings: GatewaySettings, pool: queries.Db) -> ReadRotation:
    """Queries read the replica (`ALPR_READ_DATABASE_URL`) while it keeps up."""
    replica = settings.read_database_url
    connect = functools.partial(_connect, settings, replica.get_secret_value()) if replica else None
    return ReadRotation(
        pool,
        connect,
        max_lag_s=settings.replica_max_lag_s,
        interval_s=settings.replica_check_interval_s,
        timeout_s=settings.db_connect_timeout_s,
    )


def _lifespan(settings: GatewaySettings) -> Callable[[FastAPI], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await _connect(settings, settings.dsn())
        reads = _read_rotation(settings, pool)
        await reads.start()
        # Nested objects of live reads come from the primary, which has just
        # committed them; a replica may not have replayed them yet.
        live = LiveFeed(settings.dsn(), buffer=settings.subscription_buffer, db=pool)
        await live.start()
        keys = KeyCache(settings.key_cache_s)
        failures = FailedAttempts(settings.auth_failure_limit, settings.auth_failure_window_s)
        state = GatewayState(settings, pool, reads, live, settings.require_keys, keys, failures)
        app.state.gateway = state
        key_watch = asyncio.create_task(watch_keys(state, settings.key_check_interval_s))
        if not settings.require_keys:
            log.warning(
                "API keys are OFF (ALPR_REQUIRE_KEYS=false): anyone who can reach %s:%d "
                "can read plate data",
                settings.gateway_host,
                settings.gateway_port,
            )
        settle_heap()
        try:
            yield
        finally:
            key_watch.cancel()
            await live.stop()
            await reads.stop()
            await pool.close()

    return lifespan


async def _database_status(db: queries.Db) -> str:
    try:
        await queries.ping(db)
    except StorageError:
        return "unavailable"
    return "ok"


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["service"])
    async def read_health(request: Request) -> JSONResponse:
        """Liveness, the state of the primary, and the read replica as last checked."""
        state: GatewayState = request.app.state.gateway
        primary = await _database_status(state.pool)
        replica = state.reads.last_check
        healthy = primary == "ok" and replica.status in ("ok", "not configured")
        body = {
            "status": "ok" if healthy else "degraded",
            "is_connected": primary == "ok",
            "database": {"primary": primary, "replica": replica.status},
            "replica": replica.describe(),
            "live": "listening" if state.live.connected else "reconnecting",
        }
        return JSONResponse(body)

    @app.get("/ready", tags=["service"])
    async def read_ready(request: Request) -> JSONResponse:
        """200 when queries (from the replica in rotation, else the primary) and
        the live feed can be served, else 503."""
        state: GatewayState = request.app.state.gateway
        ready = await _database_status(state.read_pool) == "ok" and state.live.connected
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["service"])
    async def read_metrics(request: Request) -> Response:
        """Prometheus metrics."""
        state: GatewayState = request.app.state.gateway
        with contextlib.suppress(StorageError):  # the rest still renders
            await export_silent(state.read_pool)
        with contextlib.suppress(StorageError):  # the gauges keep their last values
            await refresh_hotlist_gauges(state.pool)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def handle_validation_error(request: Request, exc: Exception) -> Response:
        """FastAPI's 422, in ASCII JSON: the input it echoes may hold a lone
        surrogate, which UTF-8 (FastAPI's rendering) cannot encode."""
        assert isinstance(exc, RequestValidationError)
        body = json.dumps({"detail": jsonable_encoder(exc.errors())})
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(AlprError)
    async def handle_alpr_error(request: Request, exc: Exception) -> JSONResponse:
        code, status = code_and_status(exc)
        if status >= 500:
            log.error("request failed: %s", type(exc).__name__, exc_info=exc)
        # Rate limited: when to come back, in whole seconds.
        headers = (
            {"Retry-After": str(math.ceil(exc.retry_after))}
            if isinstance(exc, RateLimited)
            else None
        )
        if request.url.path.startswith(GRAPHQL_PATH):
            return JSONResponse(error_body(exc), status_code=status, headers=headers)
        body: dict[str, Any] = {"detail": public_message(exc), "code": code}
        if isinstance(exc, InvalidRequest):
            body["parameter"] = exc.argument
        return JSONResponse(body, status_code=status, headers=headers)


_PROBE_ROUTES = frozenset({"/health", "/ready", "/metrics"})


class RequestTimer:
    """Time and log every HTTP request by its route template.

    Plain ASGI: Starlette's `BaseHTTPMiddleware` (`@app.middleware`) would run
    each request in an extra task with memory streams, as much CPU as half a
    small query.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_and_note)
        # Strawberry's route has an empty path of its own under the prefix.
        label = getattr(scope.get("route"), "path", "") or (
            GRAPHQL_PATH if scope["path"].startswith(GRAPHQL_PATH) else "unmatched"
        )
        elapsed = time.perf_counter() - started
        REQUEST_SECONDS.labels(label, method_label(scope["method"])).observe(elapsed)
        # One line per request at INFO with the route template, never the
        # path: /events/plate/ABC123 carries plate text. Probes stay at DEBUG.
        level = logging.DEBUG if label in _PROBE_ROUTES else logging.INFO
        log.log(
            level,
            "request %s %s status=%d ms=%.1f",
            scope["method"],
            label,
            status,
            elapsed * 1000,
        )


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway app; refuses (ValueError) keys off unless every address it
    would bind is loopback."""
    if not settings.require_keys:
        check_keys_off_bind(settings.gateway_host)
    app = FastAPI(
        title="ALPR gateway",
        description="Plate reads over GraphQL (/graphql) and the storage-layer REST endpoints.",
        lifespan=_lifespan(settings),
        docs_url=None,  # gateway.dashboard serves /docs from local files
    )
    graphql = GraphQLApp(
        build_schema(settings),
        context_getter=graphql_context,
        graphql_ide="graphiql" if settings.graphiql else None,
    )
    app.include_router(graphql, prefix=GRAPHQL_PATH)
    app.mount(ASSET_PATH, StaticFiles(directory=ASSET_DIR, check_dir=False), name="ide-assets")
    app.include_router(rest.events)
    app.include_router(rest.service)
    app.include_router(rest_plates.router)
    app.include_router(rest_holds.router)
    app.include_router(rest_hotlists.router)
    app.include_router(rest_alerts.router)
    _add_service_routes(app)
    add_dashboard(app)
    _add_error_handlers(app)
    # The outermost last: every request is timed, refused ones too.
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.max_request_bytes, graphql_path=GRAPHQL_PATH
    )
    app.add_middleware(RequestTimer)
    return app
