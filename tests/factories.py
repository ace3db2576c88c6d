"""Plate events for tests: valid by default, changed by keyword."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from core.settings import IngestorSettings


def wire_event(**changes: Any) -> dict[str, Any]:
    """A valid nested wire event; `plate__confidence=7` changes a nested field."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "captured_at": datetime.now(UTC).isoformat(),
        "camera_id": "camera-01",
        "track_id": "t-000187",
        "plate": {
            "text": "ABC-123",
            "normalized_text": "ABC123",
            "confidence": 0.93,
            "region": "US-FL",
        },
        "vehicle": {"type": "car", "make": "Toyota", "model": "Camry", "color": "silver"},
        "images": {
            "plate_url": "https://img.example/p.jpg",
            "vehicle_url": "https://img.example/v.jpg",
            "frame_url": "https://img.example/f.jpg",
        },
        "latency_ms": 45,
        "node": {"site": "DC1", "host": "jetson-orin-nx"},
        "extras": {
            "roi": "lane-1",
            "direction": "inbound",
            "quality_score": 0.81,
            "frame_number": 18231,
        },
    }
    for key, value in changes.items():
        if "__" in key:
            group, field = key.split("__", 1)
            if value is _DELETE:
                event[group].pop(field, None)
            else:
                event[group][field] = value
        elif value is _DELETE:
            event.pop(key, None)
        else:
            event[key] = value
    return event


_DELETE = object()
DELETE: Any = _DELETE


def kafka_ingestor_settings(
    database_url: str, bootstrap: str, topic: str, **changes: Any
) -> IngestorSettings:
    """An ingestor on `topic` alone: a fresh group from the start, no HTTP, no metrics port."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "kafka_topic": topic,
        "kafka_group_id": f"group-{uuid.uuid4().hex}",
        "kafka_auto_offset_reset": "earliest",
        "dlq_topic": f"{topic}.dlq",
        "http_enabled": False,
        "ingestor_metrics_port": None,
        "batch_size": 1000,
        "batch_max_age_ms": 100,
    }
    values.update(changes)
    return IngestorSettings(**values)
