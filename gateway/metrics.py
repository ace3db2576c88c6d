"""Prometheus metrics of the gateway, in one registry of its own.

A registry per module (not the global default) so that tests building
several apps in one process do not collide on metric names.

`/metrics` needs no key, and every label value is a series kept until the
process ends: no label takes a value a client chose. Routes are labelled by
their template, methods by the HTTP methods there are, operations by the
schema's root fields (`operation_label`).
"""

from __future__ import annotations

from typing import Final

from graphql import DocumentNode, GraphQLSchema, get_operation_ast
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.root_fields import root_fields

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
OPERATION_SECONDS = Histogram(
    "alpr_gateway_operation_seconds",
    "Time to run a GraphQL query, by its root field (query events), "
    "'query several' for more than one, 'other' for a document that did not name one",
    ["operation"],
    registry=REGISTRY,
)
SUBSCRIBERS = Gauge(
    "alpr_gateway_subscribers", "Live subscriptions currently open", registry=REGISTRY
)
LIVE_DELIVERED = Counter(
    "alpr_gateway_live_delivered", "Reads handed to subscribers", registry=REGISTRY
)
LIVE_ALERTS_DELIVERED = Counter(
    "alpr_gateway_live_alerts_delivered", "Alerts handed to subscribers", registry=REGISTRY
)
LIVE_RENDERED = Counter(
    "alpr_gateway_live_rendered",
    "Live results executed and serialized, once per read or alert and subscription shape",
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
# Per hotlist (names are created by operators, a bounded set), refreshed
# from the database at every scrape of /metrics.
HOTLIST_STALE = Gauge(
    "alpr_hotlist_stale",
    "1 when the list was not refreshed within its max age, else 0",
    ["hotlist"],
    registry=REGISTRY,
)
HOTLIST_AGE_SECONDS = Gauge(
    "alpr_hotlist_age_seconds",
    "Time since the list's last import or change",
    ["hotlist"],
    registry=REGISTRY,
)
# Set from the database on each scrape (gateway.camera_health).
CAMERA_SILENT = Gauge(
    "alpr_gateway_camera_silent",
    "1 while a camera has sent nothing for much longer than its usual gap, else 0 "
    "(absent while its history is too short to tell)",
    ["camera_id"],
    registry=REGISTRY,
)
CAMERAS_SILENT = Gauge(
    "alpr_gateway_cameras_silent",
    "Cameras silent now (see alpr_gateway_camera_silent)",
    registry=REGISTRY,
)

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER: Final = "other"
_INTROSPECTION: Final = frozenset({"__schema", "__type", "__typename"})


def method_label(method: str) -> str:
    """An HTTP method as a label: one of `METHODS`, else "other"."""
    return method if method in METHODS else OTHER


def operation_label(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> str:
    """`query events` for an operation of one root field of the schema,
    `query several` for more, "other" for anything else (no such operation,
    no field the schema has). Aliases and fragments do not matter."""
    operation = get_operation_ast(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation else None
    if operation is None or root is None:
        return OTHER
    names = (node.name.value for node in root_fields(document, operation))
    known = {name for name in names if name in root.fields or name in _INTROSPECTION}
    if not known:
        return OTHER
    kind = operation.operation.value
    return f"{kind} {known.pop()}" if len(known) == 1 else f"{kind} several"
