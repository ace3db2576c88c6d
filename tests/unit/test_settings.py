"""Settings: defaults of the storage-layer document, URLs, the secret rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import DatabaseSettings, IngestorSettings, KafkaSettings, is_loopback


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
