"""The ingestor process: the sources that are enabled, one pool, one stop signal.

`run(settings)` starts the Kafka source (`kafka_enabled`) and the HTTP
source (`http_enabled`), the metrics endpoint (with the storage gauges,
refreshed every minute) and the periodic stats line, and stops them all on
SIGINT/SIGTERM: each source finishes the batch in hand and commits before
the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from core.db import wait_for_pool
from core.settings import IngestorSettings
from ingestor import health, metrics
from ingestor.pipeline.write import connection
from ingestor.retention import RetentionPolicy, retention_loop
from ingestor.storage import fill_plate_copy, refresh_storage_gauges
from ingestor.writer import Connection, merge_search_pending, prune_announcements
from schema.errors import StorageError

log = logging.getLogger(__name__)


async def periodically(
    pool: asyncpg.Pool[Any],
    every_s: float,
    job: Callable[[Connection], Awaitable[int]],
    what: str,
) -> None:
    """Run a housekeeping `job` every `every_s` seconds until cancelled; an outage skips a turn."""
    while True:
        try:
            async with connection(pool) as conn:
                done = await job(conn)
            if done:
                log.debug("%s: %d", what, done)
        except StorageError as exc:
            log.warning("could not %s: %s", what, exc)
        await asyncio.sleep(every_s)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _sources(
    settings: IngestorSettings, pool: asyncpg.Pool[Any], stats: metrics.Stats, stop: asyncio.Event
) -> list[Coroutine[Any, Any, None]]:
    sources: list[Coroutine[Any, Any, None]] = []
    if settings.kafka_enabled:
        from ingestor.sources.kafka import KafkaSource

        sources.append(KafkaSource(settings, pool, stats).run(stop))
    if settings.http_enabled:
        from ingestor.sources.http import serve_http

        sources.append(serve_http(settings, pool, stats, stop))
    return sources


def _source_names(settings: IngestorSettings) -> tuple[str, ...]:
    return tuple(
        name
        for name, on in (("kafka", settings.kafka_enabled), ("http", settings.http_enabled))
        if on
    )


async def _mark_stopped(pool: asyncpg.Pool[Any], publisher: health.Publisher) -> None:
    """The last health report; skipped when the database is away."""
    try:
        async with connection(pool) as conn:
            await publisher.stopped(conn)
    except StorageError as exc:
        log.warning("could not publish the final ingest health: %s", exc)


async def run(settings: IngestorSettings, stop: asyncio.Event | None = None) -> int:
    """Run until stopped; returns the process exit code."""
    if stop is None:  # the real process; tests pass their own event
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            _install_signals(stop)
    settings.check_secrets()
    if not (settings.kafka_enabled or settings.http_enabled):
        log.error("no source enabled: set ALPR_KAFKA_ENABLED or ALPR_HTTP_ENABLED")
        return 2
    metrics.serve(settings.ingestor_metrics_port, settings.ingestor_metrics_host)
    pool = await wait_for_pool(settings, stop)
    if pool is None:
        return 0
    stats = metrics.Stats()
    reporter = asyncio.create_task(metrics.log_periodically(stats, settings.stats_interval_s))
    publisher = health.Publisher(stats, _source_names(settings))
    publishing = asyncio.create_task(
        periodically(pool, health.INTERVAL_S, publisher.publish, "publish ingest health")
    )
    # Listeners catch up from the last hour of announcements; plate search
    # wants the GIN pending lists short.
    pruner = asyncio.create_task(
        periodically(pool, 60.0, prune_announcements, "prune announcements")
    )
    merger = asyncio.create_task(
        periodically(pool, 10.0, merge_search_pending, "merge search index lists")
    )
    gauges = asyncio.create_task(
        periodically(pool, 60.0, refresh_storage_gauges, "refresh storage gauges")
    )
    copier = asyncio.create_task(
        periodically(pool, 60.0, fill_plate_copy, "fill the plate-ordered copy")
    )
    keeper = asyncio.create_task(
        retention_loop(
            pool, RetentionPolicy.from_settings(settings), settings.retention_interval_s, stop
        )
    )
    tasks = [asyncio.create_task(source) for source in _sources(settings, pool, stats, stop)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t for t in done if t.exception() is not None]
        if failed:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.error("ingestor source failed", exc_info=failed[0].exception())
            return 1
        return 0
    finally:
        reporter.cancel()
        publishing.cancel()
        await _mark_stopped(pool, publisher)
        pruner.cancel()
        merger.cancel()
        gauges.cancel()
        copier.cancel()
        keeper.cancel()
        log.info("ingestor stopped: %s", stats.summary())
        await pool.close()
