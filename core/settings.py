"""Settings, from environment variables (`ALPR_*`) or explicit arguments.

Each process builds one settings object at its entry point and passes it
down; nothing below reads the environment. Defaults follow the storage-layer
document (database `alpr_db`, topic `alpr.plates.detected`, group
`alpr-storage-consumer`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from datetime import timedelta, tzinfo
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schema.events import CaptureWindow

DEFAULT_DB_PASSWORD = "alpr_secure_pass"  # the storage-layer document's; refused off loopback
DEFAULT_BACKFILL_DAYS = 30


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8, ::1 and Unix-socket paths; False for ""
    (which binds every interface) and for names other than localhost."""
    if host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


Resolver = Callable[..., list[tuple[Any, ...]]]


def bind_addresses(host: str, resolve: Resolver = socket.getaddrinfo) -> list[str]:
    """Every address a server listening on `host` binds, as asyncio (and so
    uvicorn) does: all of them a name resolves to; "" binds every interface."""
    found = resolve(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return sorted({str(info[4][0]).partition("%")[0] for info in found})


def check_keys_off_bind(host: str, resolve: Resolver = socket.getaddrinfo) -> None:
    """Refuse (ValueError) to serve without keys on `host` unless every address it
    binds is loopback: no empty host, wildcard, or name resolving elsewhere."""
    if not host:
        raise ValueError(
            "ALPR_REQUIRE_KEYS=false needs a loopback ALPR_GATEWAY_HOST; an empty host "
            "binds every interface (0.0.0.0 and ::)"
        )
    try:
        addresses = bind_addresses(host, resolve)
    except OSError as exc:
        raise ValueError(f"ALPR_GATEWAY_HOST {host!r} does not resolve: {exc}") from None
    elsewhere = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if elsewhere or not addresses:
        raise ValueError(
            f"ALPR_REQUIRE_KEYS=false is only allowed when ALPR_GATEWAY_HOST binds loopback "
            f"addresses only; {host!r} binds {', '.join(elsewhere) or 'nothing'}"
        )


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALPR_", extra="ignore", frozen=True)


class DatabaseSettings(_Base):
    """Where PostgreSQL is. `ALPR_DATABASE_URL` wins over the separate parts."""

    database_url: SecretStr | None = None
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "alpr_db"
    db_user: str = "alpr"
    db_password: SecretStr = SecretStr(DEFAULT_DB_PASSWORD)
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=8, ge=1)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)

    def dsn(self) -> str:
        """The connection URL; it holds a secret, so never log it."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        password = quote(self.db_password.get_secret_value(), safe="")
        return (
            f"postgresql://{quote(self.db_user, safe='')}:{password}"
            f"@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"
        )

    def describe(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.dsn())
        # A Unix-socket URL names its directory in ?host= instead.
        host = parts.hostname or parse_qs(parts.query).get("host", ["?"])[0]
        return f"postgresql://{parts.username or ''}@{host}:{parts.port or 5432}{parts.path}"

    def check_secrets(self) -> None:
        """Refuse the documented default password for a database off loopback."""
        # No host in the URL: libpq's default, the local Unix socket.
        host = urlsplit(self.dsn()).hostname or "/"
        uses_default = (
            self.database_url is None and self.db_password.get_secret_value() == DEFAULT_DB_PASSWORD
        )
        if uses_default and not is_loopback(host):
            raise ValueError(
                "ALPR_DB_PASSWORD still holds the documented default; set a real one "
                "for a database that is not on loopback"
            )


class KafkaSettings(_Base):
    """The broker, topics and consumer group."""

    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_topic: str = "alpr.plates.detected"
    kafka_group_id: str = "alpr-storage-consumer"
    kafka_auto_offset_reset: Literal["earliest", "latest"] = "latest"
    dlq_topic: str = "alpr.plates.detected.dlq"


class RetentionSettings(_Base):
    """How long reads and closed alerts are kept; off (kept forever) unless a
    number of days is set. The ingestor's retention runs apply both.

    `ALPR_RETENTION_SITE_DAYS` overrides the age per site: `DC1=30,DC2=365`.
    """

    retention_days: int | None = Field(default=None, ge=1)
    retention_site_days: str = ""
    retention_interval_s: float = Field(default=3600.0, gt=0)
    # Closed alerts (with their record of reads) are deleted this many days
    # after they were closed; while an alert is open, or when it was closed as
    # confirmed, its reads are held from retention.
    alert_retention_days: int | None = Field(default=None, ge=1)

    @field_validator("retention_days", "alert_retention_days", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        # docker compose passes an unset `${ALPR_RETENTION_DAYS:-}` as "".
        return None if value == "" else value

    @field_validator("retention_site_days")
    @classmethod
    def _site_days_parse(cls, value: str) -> str:
        parse_site_days(value)
        return value

    def site_days(self) -> dict[str, int]:
        """The per-site overrides, by site id."""
        return parse_site_days(self.retention_site_days)

    def retention_enabled(self) -> bool:
        return self.retention_days is not None or bool(self.site_days())


class BackfillSettings(RetentionSettings):
    """How far back adding an entry (or importing a list) searches past reads
    for earlier hits; wherever entries are added (gateway, `alpr hotlist`)."""

    alert_backfill_days: int = Field(default=DEFAULT_BACKFILL_DAYS, ge=0, le=3650)

    def backfill_days(self, requested: int | None = None) -> int:
        """`requested` days (else ALPR_ALERT_BACKFILL_DAYS), never further back
        than any read is kept (the longest retention age): a held read older
        than that is no past hit to raise."""
        days = self.alert_backfill_days if requested is None else requested
        if self.retention_days is None:
            return days
        return min(days, max([self.retention_days, *self.site_days().values()]))


def parse_site_days(text: str) -> dict[str, int]:
    """`"DC1=30, DC2=365"` -> `{"DC1": 30, "DC2": 365}`; raises ValueError on bad input."""
    result: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        site, sep, days = item.partition("=")
        if not sep or not site.strip() or not days.strip().isdigit() or int(days) < 1:
            raise ValueError(f"expected SITE=DAYS (days >= 1), got {item!r}")
        result[site.strip()] = int(days)
    return result


_INTERVAL = re.compile(r"^\s*(\d+)\s*(h|hours?|d|days?|w|weeks?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 604800}


def parse_interval(value: object) -> object:
    """`"6 hours"`, `"1 day"`, `"2w"` -> a timedelta. Anything else is left
    to pydantic, which takes a timedelta, seconds or ISO 8601 (`P1D`) and
    refuses the rest."""
    match = _INTERVAL.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2][0].lower()])


class StorageSettings(_Base):
    """How plate_events is laid out; `alpr migrate` applies it on every run.

    TimescaleDB: the time a chunk covers (new chunks take it; existing ones
    keep theirs) and the age past which a chunk is compressed (None: never).
    Plain PostgreSQL has neither: its partitions are one UTC day each (the
    writer, retention and plate history count in UTC days) and it does not
    compress, so both are ignored there. docs/adr/0055-columnstore.md says
    how they were chosen.
    """

    chunk_interval: timedelta = Field(
        default=timedelta(days=1), ge=timedelta(hours=1), le=timedelta(days=31)
    )
    compress_after: timedelta | None = Field(default=timedelta(days=7), ge=timedelta(hours=1))

    @field_validator("chunk_interval", mode="before")
    @classmethod
    def _chunk_interval_parse(cls, value: object) -> object:
        return parse_interval(value)

    @field_validator("compress_after", mode="before")
    @classmethod
    def _compress_after_parse(cls, value: object) -> object:
        # "off" (or "" from an unset compose variable) keeps every chunk as it is written.
        if isinstance(value, str) and value.strip().lower() in ("", "off", "never"):
            return None
        return parse_interval(value)


class IngestorSettings(DatabaseSettings, KafkaSettings, RetentionSettings):
    """The ingestor process."""

    kafka_enabled: bool = True
    http_enabled: bool = True
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    batch_max_age_ms: int = Field(default=200, ge=1)
    naive_timezone: str | None = None
    # The capture window (schema.events.CaptureWindow). Bounded so that no
    # setting lets a date near the calendar's ends (year 1, year 9999) in.
    max_future_s: float = Field(default=86_400.0, ge=0, le=366 * 86_400)
    max_read_age_days: int = Field(default=3650, ge=1, le=36_500)
    ingest_http_host: str = "127.0.0.1"
    ingest_http_port: int = 8001
    ingest_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Rejected items a POST /ingest answer lists (all are counted).
    ingest_max_rejections: int = Field(default=100, ge=0, le=100_000)
    ingestor_metrics_port: int | None = 9101
    ingestor_metrics_host: str = "127.0.0.1"
    stats_interval_s: float = Field(default=30.0, gt=0)
    require_keys: bool = False
    # Batches the Kafka source writes at once (commits stay in read order).
    ingest_writers: int = Field(default=2, ge=1, le=8)
    # The Kafka source asks the broker for the log end of every assigned
    # partition this often, and records each partition's lag.
    kafka_lag_interval_s: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("naive_timezone")
    @classmethod
    def _zone_exists(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def naive_tz(self) -> tzinfo | None:
        """The zone assumed for timestamps sent without an offset, if any."""
        return ZoneInfo(self.naive_timezone) if self.naive_timezone else None

    def capture_window(self) -> CaptureWindow:
        """Where a read's `captured_at` must lie, on the system clock."""
        return CaptureWindow(self.max_future_s, self.max_read_age_days)


class GatewaySettings(DatabaseSettings, BackfillSettings):
    """The gateway process."""

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    read_database_url: SecretStr | None = None
    # Past this lag the replica leaves rotation (queries read the primary);
    # it rejoins once back under half of it.
    replica_max_lag_s: float = Field(default=10.0, gt=0)
    replica_check_interval_s: float = Field(default=1.0, gt=0)
    require_keys: bool = True
    require_purpose: bool = False
    introspection: bool = True
    graphiql: bool = True
    max_query_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    # Pages multiplied through nesting (gateway/query_cost.py): 10,000 admits
    # twenty pages of 500 reads with their camera and plate, and refuses a
    # page of 500 reads each with a page of its camera's reads (250,500).
    max_query_cost: int = Field(default=10_000, ge=1)
    # The largest HTTP request body and websocket message the gateway takes.
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    subscription_buffer: int = Field(default=1000, ge=1)
    gateway_workers: int = Field(default=1, ge=1, le=64)
    # A revoked or expired key stops working within 5 s: new checks trust a
    # key found for at most key_cache_s, open websockets are checked every
    # key_check_interval_s.
    key_cache_s: float = Field(default=2.0, ge=0, le=4)
    key_check_interval_s: float = Field(default=2.0, gt=0, le=4)
    # Wrong keys (unknown, revoked, expired) one address may send per window
    # before every key check from it is refused (429) until the window ends.
    auth_failure_limit: int = Field(default=20, ge=1)
    auth_failure_window_s: float = Field(default=60.0, gt=0)


class AlertSettings(DatabaseSettings, BackfillSettings):
    """The alerts process (`alpr alerts`): matching, past hits, webhooks."""

    # Reads of one entry at one camera this close to the open alert's last
    # read join it: one alert per vehicle pass.
    alert_pass_window_s: float = Field(default=300.0, gt=0, le=86_400)
    # Batches of stored reads one matching transaction takes at most.
    alert_batches_per_round: int = Field(default=200, ge=1, le=10_000)
    # A notification that never came is covered by polling this often.
    alert_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_backoff_base_s: float = Field(default=1.0, gt=0, le=3600)
    webhook_backoff_cap_s: float = Field(default=300.0, gt=0, le=86_400)
    alerts_metrics_port: int | None = 9102
    alerts_metrics_host: str = "127.0.0.1"

    @field_validator("alerts_metrics_port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
