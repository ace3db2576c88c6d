"""The alerts process: the matcher and the webhook deliverer, one stop signal.

`run(settings)` serves the metrics, starts the matcher (which waits for the
matcher lock when another process holds it) and the deliverer, and stops
both on SIGINT/SIGTERM: a round in flight is rolled back with its
connection and done again by the next matcher, so stopping loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from alerts import metrics
from alerts.matcher import Matcher
from alerts.webhooks import Deliverer
from core.db import wait_for_pool
from core.settings import AlertSettings

log = logging.getLogger(__name__)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run(settings: AlertSettings, stop: asyncio.Event | None = None) -> int:
    """Run until stopped; returns the process exit code."""
    if stop is None:  # the real process; tests pass their own event
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            _install_signals(stop)
    settings.check_secrets()
    metrics.serve(settings.alerts_metrics_port, settings.alerts_metrics_host)
    pool = await wait_for_pool(settings, stop)
    if pool is None:
        return 0
    deliverer = Deliverer(pool, settings)
    matcher = Matcher(settings, on_raised=deliverer.raised)
    tasks = [
        asyncio.create_task(matcher.run(stop), name="alpr-alerts-matcher"),
        asyncio.create_task(deliverer.run(stop), name="alpr-alerts-webhooks"),
    ]
    try:
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stopper and t.exception() is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        if failed:
            log.error("alerts process failed", exc_info=failed[0].exception())
            return 1
        return 0
    finally:
        await pool.close()
        log.info("alerts process stopped")
