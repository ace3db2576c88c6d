"""Settings: defaults of the storage-layer document, URLs, the secret rule."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pydantic import ValidationError

from core.settings import (
    DatabaseSettings,
    GatewaySettings,
    IngestorSettings,
    KafkaSettings,
    bind_addresses,
    check_keys_off_bind,
    is_loopback,
)


def test_defaults_follow_the_storage_layer_document(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALPR_DATABASE_URL", "ALPR_DB_HOST", "ALPR_KAFKA_TOPIC", "ALPR_KAFKA_GROUP_ID"):
        monkeypatch.delenv(name, raising=False)
    db = DatabaseSettings()
    assert db.dsn() == "postgresql://alpr:alpr_secure_pass@localhost:5432/alpr_db"
    kafka = KafkaSettings()
    assert kafka.kafka_topic == "alpr.plates.detected"
    assert kafka.kafka_group_id == "alpr-storage-consumer"
    assert kafka.kafka_auto_offset_reset == "latest"
    assert kafka.dlq_topic == "alpr.plates.detected.dlq"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPR_DB_HOST", "db.internal")
    monkeypatch.setenv("ALPR_DB_PASSWORD", "p@ss/word")
    monkeypatch.setenv("ALPR_KAFKA_AUTO_OFFSET_RESET", "earliest")
    assert DatabaseSettings().dsn() == "postgresql://alpr:p%40ss%2Fword@db.internal:5432/alpr_db"
    assert KafkaSettings().kafka_auto_offset_reset == "earliest"


def test_url_wins_and_describe_hides_the_password() -> None:
    settings = DatabaseSettings(database_url="postgresql://u:secret@h:6543/d", db_host="other")
    assert settings.dsn() == "postgresql://u:secret@h:6543/d"
    assert "secret" not in settings.describe()
    assert "secret" not in repr(settings)
    socket = DatabaseSettings(database_url="postgresql://postgres:@/alpr_db?host=/tmp/pg")
    assert socket.describe() == "postgresql://postgres@/tmp/pg:5432/alpr_db"


def test_default_password_refused_off_loopback() -> None:
    DatabaseSettings(db_host="127.0.0.1").check_secrets()
    with pytest.raises(ValueError, match="ALPR_DB_PASSWORD"):
        DatabaseSettings(db_host="db.internal").check_secrets()
    DatabaseSettings(db_host="db.internal", db_password="real").check_secrets()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.5", True),
        ("::1", True),
        ("/tmp/sock", True),
        ("", False),  # binds every interface
        ("::", False),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("example.org", False),
    ],
)
def test_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(kafka_auto_offset_reset="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown time zone"):
        IngestorSettings(naive_timezone="Mars/Olympus")
    assert IngestorSettings(naive_timezone="Europe/Berlin").naive_tz() is not None


def _resolving_to(*addresses: str) -> Any:
    def resolve(host: str | None, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, 0)) for a in addresses
        ]

    return resolve


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_keys_may_be_off_on_loopback_binds(host: str) -> None:
    """Defect 3: loopback literals and names that resolve to loopback only."""
    check_keys_off_bind(host.strip("[]"))


@pytest.mark.parametrize(
    ("host", "resolve", "words"),
    [
        ("", None, "empty host binds every interface"),
        ("0.0.0.0", None, "binds 0.0.0.0"),
        ("::", None, "binds ::"),
        ("10.1.2.3", None, "binds 10.1.2.3"),
        ("gateway.lan", _resolving_to("127.0.0.1", "10.0.0.5"), "binds 10.0.0.5"),
        ("fe80-host", _resolving_to("fe80::1%eth0"), "binds fe80::1"),
        ("nowhere.invalid", None, "does not resolve"),
    ],
)
def test_keys_off_refuses_any_bind_off_loopback(host: str, resolve: Any, words: str) -> None:
    """Defect 3: an empty host, wildcards and names resolving elsewhere refuse to start."""
    with pytest.raises(ValueError, match=words):
        if resolve is None:
            check_keys_off_bind(host)
        else:
            check_keys_off_bind(host, resolve)


def test_an_empty_host_binds_the_wildcards() -> None:
    assert set(bind_addresses("")) <= {"0.0.0.0", "::"} and "0.0.0.0" in bind_addresses("")


def test_key_settings_keep_revocation_within_5s() -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(key_cache_s=5)
    with pytest.raises(ValidationError):
        GatewaySettings(key_check_interval_s=10)


def test_a_database_on_the_local_socket_may_keep_the_default_password() -> None:
    DatabaseSettings(db_host="").check_secrets()


def test_capture_window_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALPR_MAX_FUTURE_S", "ALPR_MAX_READ_AGE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    window = IngestorSettings().capture_window()
    assert (window.max_future_s, window.max_age_days) == (86_400, 3650)
    monkeypatch.setenv("ALPR_MAX_FUTURE_S", "600")
    monkeypatch.setenv("ALPR_MAX_READ_AGE_DAYS", "30")
    window = IngestorSettings().capture_window()
    assert (window.max_future_s, window.max_age_days) == (600, 30)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_future_s": -1},
        {"max_future_s": 367 * 86_400},  # a window reaching the calendar's end
        {"max_read_age_days": 0},
        {"max_read_age_days": 36_501},
        {"ingest_max_rejections": -1},
    ],
)
def test_ingest_bounds_are_bounded(changes: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        IngestorSettings(**changes)  # type: ignore[arg-type]
