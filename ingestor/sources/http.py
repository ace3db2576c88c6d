"""The HTTP source: `POST /ingest` for edge devices and webhooks.

The body is one event (a JSON object), a JSON array of events, or NDJSON
(one event per line). Its items go through the same pipeline as Kafka
messages (`ingestor.pipeline`), one batch written at a time; the answer is
the acknowledgement: how many were stored, how many were already there
(duplicates), how many were rejected, and the first of them
(`ingest_max_rejections`, by their 0-based index in the body) with the
same reasons Kafka's dead letters carry. However large and however bad the
body, the answer stays small, and decoding gives the event loop back to
other requests every few milliseconds.

Statuses: 200 when at least one item was accepted (stored or duplicate), 422
when every item was rejected or the body holds none, 401/403 for a missing
or insufficient key (scope `ingest`; not needed from loopback unless
`require_keys`), 413 over `ingest_max_body_bytes`, 503 with Retry-After
while the database is down (nothing is retried here: the client retries,
and what was stored before the outage counts as duplicates then), 500 with
no detail for a fault of the database itself (logged with its trace).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Final

import asyncpg
import orjson
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.keys import authenticate, token_from_headers
from core.settings import IngestorSettings, is_loopback
from ingestor import metrics
from ingestor.pipeline.batch import Batcher
from ingestor.pipeline.decode import Decode
from ingestor.pipeline.message import DeadLetter, Message, Parsed
from ingestor.pipeline.step import feed
from ingestor.pipeline.write import Write, Written, store
from ingestor.writer import Writer
from schema.errors import AuthError, Forbidden, StorageError, StorageUnavailable

log = logging.getLogger(__name__)
SOURCE: Final = "http"
# Decoding hands the event loop back at least this often.
SLICE_S: Final = 0.005


class RejectedItem(BaseModel):
    """One item of the body that can never be stored."""

    index: int
    reason: str


class IngestResult(BaseModel):
    """What became of a POST /ingest body: `rejected` lists the first
    rejections by index, `rejected_count` counts them all."""

    stored: int
    duplicates: int
    rejected: list[RejectedItem]
    rejected_count: int
    rejections_truncated: bool


class BodyTooLarge(Exception):
    """The body is over the configured limit."""


def messages(body: bytes) -> Iterator[Message]:
    """Each item of the body as a message whose `offset` is its 0-based index.

    A body that parses as JSON is one object or an array of them; anything
    else is read as NDJSON, line by line, each line decoded on its own.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        lines = (line for line in body.splitlines() if line.strip())
        for index, line in enumerate(lines):
            yield Message(line, topic=SOURCE, offset=index)
        return
    for index, item in enumerate(parsed if isinstance(parsed, list) else [parsed]):
        yield Message(Parsed(item), topic=SOURCE, offset=index)


class _Totals:
    """The acknowledgement of each written batch: counts for the answer (the
    refused reads reach the answer as dead letters, through `_Rejections`)."""

    def __init__(self) -> None:
        self.stored = 0
        self.duplicates = 0

    async def __call__(self, written: Written) -> None:
        self.stored += written.result.stored
        self.duplicates += written.result.duplicates


class _Rejections:
    """Where the body's dead letters go: all counted, the first `keep` by index kept."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.count = 0
        self.first: list[tuple[int, str]] = []

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        self.count += len(letters)
        candidates = [*self.first, *((d.message.offset, d.reason) for d in letters)]
        self.first = heapq.nsmallest(self.keep, candidates)


async def ingest_body(
    body: bytes,
    settings: IngestorSettings,
    pool: asyncpg.Pool[Any],
    writer: Writer,
    stats: metrics.Stats,
) -> IngestResult:
    """Put the items of one body through the pipeline; what became of them."""
    rejections, totals = _Rejections(settings.ingest_max_rejections), _Totals()
    write = Write(functools.partial(store, pool, writer), rejections, totals, stats, SOURCE)
    pipeline = Decode(
        Batcher(write, settings.batch_size), settings.naive_tz(), settings.capture_window()
    )
    try:
        count = await feed(pipeline, messages(body), slice_s=SLICE_S)
    finally:
        write.cancel()  # a request that fails or goes away takes its write with it
    stats.record_consumed(SOURCE, count)
    return IngestResult(
        stored=totals.stored,
        duplicates=totals.duplicates,
        rejected=[RejectedItem(index=i, reason=r) for i, r in rejections.first],
        rejected_count=rejections.count,
        rejections_truncated=rejections.count > len(rejections.first),
    )


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
    """The ingestor's HTTP app, bound to its settings, pool and counters (and one writer)."""
    app = FastAPI(title="ALPR ingestor", docs_url="/docs", redoc_url=None)
    writer = Writer()

    async def require_ingest_key(request: Request) -> None:
        client = request.client.host if request.client else ""
        if not settings.require_keys and is_loopback(client):
            return
        token = token_from_headers(request.headers)
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

    @app.exception_handler(StorageError)
    async def _storage_fault(request: Request, exc: StorageError) -> JSONResponse:
        # The database's own fault (a row's is a rejection): logged once with
        # its trace, answered without the driver's text.
        log.error("ingest failed: %s", exc, exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status_code=500)

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
        status = 200 if accepted else 422
        # One line per request at INFO: counts only, never plate text.
        log.info(
            "ingest request status=%d stored=%d duplicates=%d rejected=%d",
            status,
            result.stored,
            result.duplicates,
            result.rejected_count,
        )
        answer = result.model_dump()
        if not accepted and not result.rejected_count:
            answer["detail"] = "the body holds no event: send an object, an array or NDJSON"
        return JSONResponse(answer, status_code=status)

    return app


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
