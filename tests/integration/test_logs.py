"""Logs at INFO: one line per stored batch from the Kafka source, counts and
times only, never plate text; JSON off a terminal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from core import logs
from ingestor import metrics
from ingestor.publish import encode
from ingestor.sources.kafka import KafkaSource
from tests.factories import kafka_ingestor_settings, wire_event

pytestmark = pytest.mark.kafka
PLATES = [f"LOGZ{i:03d}" for i in range(20)]


async def test_one_info_line_per_batch_without_plate_text(
    database_url: str, pool: asyncpg.Pool[Any], kafka_bootstrap: str
) -> None:
    topic = f"test-{uuid.uuid4().hex}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for plate in PLATES:
            value, key = encode(wire_event(camera_id="log-cam", plate__text=plate))
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()
    settings = kafka_ingestor_settings(database_url, kafka_bootstrap, topic)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("INFO", json=True)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    stop = asyncio.Event()
    task = asyncio.create_task(KafkaSource(settings, pool, metrics.Stats()).run(stop))
    try:
        for _ in range(300):
            stored = await pool.fetchval(
                "SELECT count(*) FROM plate_events WHERE camera_id = 'log-cam'"
            )
            if stored == len(PLATES):
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    batches = [line for line in lines if line["event"].startswith("batch stored=")]
    assert batches and all(line["level"] == "info" for line in batches)
    assert sum(int(line["event"].split()[1].split("=")[1]) for line in batches) == len(PLATES)
    # Each names the offsets it committed, partition:next offset.
    assert all(re.search(r" committed=\d+:\d+(,\d+:\d+)*$", line["event"]) for line in batches)
    text = stream.getvalue()
    assert not any(plate in text for plate in PLATES)


async def test_one_info_line_per_request_without_plate_text(database_url: str) -> None:
    import httpx

    from tests.integration.gateway_server import serve, settings_for

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("INFO", json=True)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        async with serve(settings_for(database_url)) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
                assert (await client.get("/events/plate/LOGZ007")).status_code == 200
                assert (await client.get("/health")).status_code == 200
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line["event"] for line in lines if line["event"].startswith("request ")]
    assert len(requests) == 1, requests  # the probe is not logged at INFO
    assert requests[0].startswith("request GET /events/plate/{plate_text} status=200 ms=")
    # The test's own client (httpx) and the test server's access log (which
    # `python -m gateway` turns off) are not the gateway's logs.
    ours = [line for line in lines if line["logger"] not in ("httpx", "uvicorn.access")]
    assert "LOGZ007" not in json.dumps(ours)


async def test_one_info_line_per_ingest_request_without_plate_text(
    database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    import httpx
    import orjson

    from tests.integration.test_ingest_http import Server, _settings

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("INFO", json=True)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    server = Server(_settings(database_url), pool)
    try:
        body = [wire_event(plate__text="HTTPLOG1"), wire_event(plate__text="HTTPLOG2")]
        async with httpx.AsyncClient(base_url=await server.url(), timeout=10) as client:
            answer = await client.post("/ingest", content=orjson.dumps(body))
        assert answer.status_code == 200
    finally:
        await server.close()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["logger"] not in ("httpx", "uvicorn.access")]
    events = [line["event"] for line in ours if line["event"].startswith("ingest request")]
    assert events == ["ingest request status=200 stored=2 duplicates=0 rejected=0"]
    assert "HTTPLOG" not in json.dumps(ours)
