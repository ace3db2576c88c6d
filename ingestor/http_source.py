"""The HTTP source: `POST /ingest` for edge devices and webhooks.

The body is one event (a JSON object), a JSON array of events, or NDJSON
(one event per line). Every item goes through the same decode and write
path as Kafka messages; the answer says how many were stored, how many were
already there (duplicates), and which items were rejected and why (by their
0-based index in the body).

Statuses: 200 when at least one item was accepted (stored or duplicate), 422
when every item was rejected, 401/403 for a missing or insufficient key
(scope `ingest`; not needed from loopback unless `require_keys`), 413 over
`ingest_max_body_bytes`, 503 with Retry-After while the database is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg
import orjson
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.keys import authenticate, bearer_token
from core.settings import IngestorSettings, is_loopback
from ingestor import metrics
from ingestor.batch import Batch
from ingestor.messages import INVALID_EVENT, DeadLetter, Message, decode
from ingestor.store import store
from ingestor.writer import Writer
from schema.errors import AuthError, Forbidden, InvalidEvent, StorageUnavailable
from schema.events import PlateEvent, event_from_dict

log = logging.getLogger(__name__)
SOURCE = "http"


class RejectedItem(BaseModel):
    """One item of the body that can never be stored."""

    index: int
    reason: str


class IngestResult(BaseModel):
    """What became of a POST /ingest body."""

    stored: int
    duplicates: int
    rejected: list[RejectedItem]


class BodyTooLarge(Exception):
    """The body is over the configured limit."""


def _items(body: bytes) -> Iterator[tuple[bytes, Any]]:
    """Each item of the body: (raw bytes, parsed value or None when unparsed).

    A body that parses as JSON is one object or an array of them; anything
    else is read as NDJSON, line by line, each line decoded on its own.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        for line in body.splitlines():
            if line.strip():
                yield line, None
        return
    for item in parsed if isinstance(parsed, list) else [parsed]:
        yield b"", item


def _decode_item(
    raw: bytes, parsed: Any, index: int, settings: IngestorSettings
) -> tuple[Message, PlateEvent | DeadLetter]:
    message = Message(value=raw, topic=SOURCE, offset=index)
    if raw:
        return message, decode(message, settings.naive_tz())
    try:
        return message, event_from_dict(parsed, naive_timezone=settings.naive_tz())
    except InvalidEvent as exc:
        return message, DeadLetter(message, INVALID_EVENT, str(exc))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    settings: IngestorSettings, pool: asyncpg.Pool[Any], stats: metrics.Stats
) -> FastAPI:
    """The ingestor's HTTP app, bound to its settings, pool and counters."""
    app = FastAPI(title="ALPR ingestor", docs_url="/docs", redoc_url=None)
    writer = Writer()

    async def require_ingest_key(request: Request) -> None:
        client = request.client.host if request.client else ""
        if not settings.require_keys and is_loopback(client):
            return
        token = bearer_token(request.headers.get("authorization"))
        await authenticate(pool, token, "ingest")

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> JSONResponse:
        status = 403 if isinstance(exc, Forbidden) else 401
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(StorageUnavailable)
    async def _unavailable(request: Request, exc: StorageUnavailable) -> JSONResponse:
        log.warning("ingest refused, storage unavailable: %s", exc)
        return JSONResponse(
            {"detail": "storage unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/health")
    async def get_health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.post("/ingest", response_model=IngestResult, dependencies=[Depends(require_ingest_key)])
    async def post_ingest(request: Request) -> JSONResponse:
        """Store one event, a JSON array of events, or NDJSON."""
        try:
            body = await _read_body(request, settings.ingest_max_body_bytes)
        except BodyTooLarge:
            return JSONResponse(
                {"detail": f"body over {settings.ingest_max_body_bytes} bytes"}, status_code=413
            )
        result = await ingest_body(body, settings, pool, writer, stats)
        accepted = result.stored + result.duplicates
        status = 200 if accepted or not result.rejected else 422
        # One line per request at INFO: counts only, never plate text.
        log.info(
            "ingest request status=%d stored=%d duplicates=%d rejected=%d",
            status,
            result.stored,
            result.duplicates,
            len(result.rejected),
        )
        return JSONResponse(result.model_dump(), status_code=status)

    return app


async def ingest_body(
    body: bytes,
    settings: IngestorSettings,
    pool: asyncpg.Pool[Any],
    writer: Writer,
    stats: metrics.Stats,
) -> IngestResult:
    """Decode, store and dead-letter the items of one body, in batches."""
    stored = duplicates = 0
    rejected: list[RejectedItem] = []
    batch = Batch(settings.batch_size, settings.batch_max_age_ms / 1000)
    count = 0
    for index, (raw, parsed) in enumerate(_items(body)):
        message, decoded = _decode_item(raw, parsed, index, settings)
        batch.add(message, decoded)
        count += 1
        if batch.room == 0:
            s, d, r = await _store_batch(batch, pool, writer, stats)
            stored, duplicates, rejected = stored + s, duplicates + d, rejected + r
            batch = batch.fresh()
    if len(batch):
        s, d, r = await _store_batch(batch, pool, writer, stats)
        stored, duplicates, rejected = stored + s, duplicates + d, rejected + r
    stats.record_consumed(SOURCE, count)
    rejected.sort(key=lambda item: item.index)
    return IngestResult(stored=stored, duplicates=duplicates, rejected=rejected)


async def _store_batch(
    batch: Batch, pool: asyncpg.Pool[Any], writer: Writer, stats: metrics.Stats
) -> tuple[int, int, list[RejectedItem]]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await store(pool, writer, batch)
    stats.record_batch(
        SOURCE, outcome.result.stored, outcome.result.duplicates, loop.time() - started
    )
    for letter in outcome.dead:
        stats.record_dead(SOURCE, letter.code)
    rejected = [RejectedItem(index=d.message.offset, reason=d.reason) for d in outcome.dead]
    return outcome.result.stored, outcome.result.duplicates, rejected


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(
    settings: IngestorSettings, pool: asyncpg.Pool[Any], stats: metrics.Stats
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings, pool, stats),
        host=settings.ingest_http_host,
        port=settings.ingest_http_port,
        log_level="warning",
        lifespan="off",
    )
    return _Server(config)


async def serve_http(
    settings: IngestorSettings,
    pool: asyncpg.Pool[Any],
    stats: metrics.Stats,
    stop: asyncio.Event,
    server: uvicorn.Server | None = None,
) -> None:
    """Serve POST /ingest until `stop` is set; requests in flight are finished."""
    server = server or make_server(settings, pool, stats)
    serving = asyncio.create_task(server.serve())
    log.info("http source on %s:%d", settings.ingest_http_host, settings.ingest_http_port)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving
