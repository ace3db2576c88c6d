"""Prometheus metrics of the alerts process, served on their own port."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60)

READS_CHECKED = Counter("alpr_alerts_reads_checked", "Stored reads matched against the lists")
BATCHES = Counter("alpr_alerts_batches", "Stored batches followed")
HITS = Counter("alpr_alerts_hits", "Reads that hit an entry (new to its alerts)", ["source"])
ALERTS_RAISED = Counter("alpr_alerts_raised", "Alerts raised", ["source"])
ALERT_SECONDS = Histogram(
    "alpr_alerts_alert_latency_seconds",
    "From a read's batch stored to its alert committed",
    buckets=_LATENCY_BUCKETS,
)
WEBHOOK_SECONDS = Histogram(
    "alpr_alerts_webhook_latency_seconds",
    "From a read's batch stored to its alert's webhook delivered",
    buckets=_LATENCY_BUCKETS,
)
ROUND_SECONDS = Histogram(
    "alpr_alerts_round_seconds",
    "One matching transaction: reads, matching, alerts, watermark",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
WEBHOOK_DELIVERIES = Counter("alpr_alerts_webhook_deliveries", "Webhook deliveries made", ["kind"])
WEBHOOK_FAILURES = Counter("alpr_alerts_webhook_failures", "Webhook attempts that failed")
WEBHOOK_BACKLOG = Gauge("alpr_alerts_webhook_backlog", "Webhook deliveries not yet made")
MEMORY_ENTRIES = Gauge("alpr_alerts_memory_entries", "Pattern and fuzzy entries held in memory")
PAUSED = Gauge("alpr_alerts_paused", "1 while the database is unreachable")
ACTIVE = Gauge("alpr_alerts_active", "1 while this process holds the matcher lock")


def serve(port: int | None, host: str = "127.0.0.1") -> None:
    """Expose /metrics on `port` (None: not at all). A port in use is logged,
    not fatal: alerts matter more than their metrics."""
    if port is None:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("alerts metrics not served on %s:%d: %s", host, port, exc)
