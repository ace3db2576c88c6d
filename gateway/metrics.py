"""Prometheus metrics of the gateway, in one registry of its own.

A registry per module (not the global default) so that tests building
several apps in one process do not collide on metric names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SQL_QUERIES = Counter(
    "alpr_gateway_sql_queries",
    "SQL statements run by the gateway, by named query",
    ["query"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "alpr_gateway_request_seconds",
    "Time to answer an HTTP request, by route and method",
    ["route", "method"],
    registry=REGISTRY,
)
# Labelled by kind and root fields ("query events,plate"), never by the
# client's operation name: the schema bounds the first, clients do not.
OPERATION_SECONDS = Histogram(
    "alpr_gateway_operation_seconds",
    "Time to run a GraphQL operation, by kind and root fields",
    ["operation"],
    registry=REGISTRY,
)
SUBSCRIBERS = Gauge(
    "alpr_gateway_subscribers", "Live subscriptions currently open", registry=REGISTRY
)
LIVE_DELIVERED = Counter(
    "alpr_gateway_live_delivered", "Reads handed to subscribers", registry=REGISTRY
)
LIVE_RENDERED = Counter(
    "alpr_gateway_live_rendered",
    "Live results executed and serialized, once per read and subscription shape",
    registry=REGISTRY,
)
LIVE_DROPPED = Counter(
    "alpr_gateway_live_dropped_subscribers",
    "Subscribers dropped because their buffer overflowed",
    registry=REGISTRY,
)
LIVE_BATCHES = Counter(
    "alpr_gateway_live_batches", "Stored batches seen by the live feed", registry=REGISTRY
)
AUDIT_RECORDS = Counter("alpr_gateway_audit_records", "Audit records written", registry=REGISTRY)
# The read replica (ALPR_READ_DATABASE_URL), from the gateway's checks;
# NaN while its lag is unknown (unreachable, or not a standby).
REPLICA_LAG_SECONDS = Gauge(
    "alpr_gateway_replica_lag_seconds",
    "How long ago the primary first held WAL the read replica has not replayed",
    registry=REGISTRY,
)
REPLICA_LAG_BYTES = Gauge(
    "alpr_gateway_replica_lag_bytes",
    "WAL the primary has written and the read replica not yet replayed",
    registry=REGISTRY,
)
REPLICA_IN_ROTATION = Gauge(
    "alpr_gateway_replica_in_rotation",
    "1 while queries read the replica, 0 while they read the primary",
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "alpr_gateway_auth_failures",
    "Refused key checks, by transport and reason (missing, unknown, revoked, expired, "
    "scope, rate_limited)",
    ["transport", "reason"],
    registry=REGISTRY,
)
