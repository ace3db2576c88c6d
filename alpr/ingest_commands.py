"""The ingestor's commands in the `alpr` CLI: `alpr ingest` and `alpr simulate`."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import Annotated

import typer

from core.settings import IngestorSettings


class Target(StrEnum):
    kafka = "kafka"
    http = "http"


def ingest() -> None:
    """Run the ingestor (Kafka and/or HTTP source, per ALPR_KAFKA_ENABLED / ALPR_HTTP_ENABLED)."""
    from ingestor.service import run

    raise typer.Exit(asyncio.run(run(IngestorSettings())))


def simulate(
    count: Annotated[int, typer.Option(min=1, help="how many messages to send")] = 1000,
    rate: Annotated[float, typer.Option(min=0, help="messages per second; 0 = flat out")] = 100,
    cameras: Annotated[int, typer.Option(min=1)] = 8,
    sites: Annotated[int, typer.Option(min=1)] = 2,
    plates: Annotated[int, typer.Option(min=1, help="size of the plate pool")] = 1000,
    ocr_noise: Annotated[float, typer.Option(min=0, max=1, help="share of misread plates")] = 0.05,
    malformed: Annotated[
        float, typer.Option(min=0, max=1, help="share of malformed messages")
    ] = 0.0,
    to: Annotated[Target, typer.Option(help="kafka or http")] = Target.kafka,
    url: Annotated[str, typer.Option(help="the ingestor's POST /ingest URL")] = (
        "http://127.0.0.1:8001/ingest"
    ),
    api_key: Annotated[
        str | None, typer.Option(envvar="ALPR_API_KEY", help="ingest-scope key for http")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="for a reproducible stream")] = None,
) -> None:
    """Send realistic synthetic plate reads to Kafka (ALPR_KAFKA_*) or the HTTP source."""
    from ingestor.simulate import Simulation, SimulationConfig, send_to_http, send_to_kafka

    # One line per request would drown the summary this command prints.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = SimulationConfig(cameras, sites, plates, ocr_noise, malformed, seed)
    messages = Simulation(config).messages()
    pace = rate or None
    if to is Target.kafka:
        settings = IngestorSettings()
        sent = asyncio.run(
            send_to_kafka(
                messages, count, settings.kafka_bootstrap_servers, settings.kafka_topic, pace
            )
        )
        typer.echo(f"sent={sent} topic={settings.kafka_topic}")
    else:
        totals = asyncio.run(send_to_http(messages, count, url, pace, api_key=api_key))
        typer.echo(" ".join(f"{k}={v}" for k, v in totals.items()))


def register(app: typer.Typer) -> None:
    """Add `ingest` and `simulate` to the `alpr` app."""
    app.command("ingest")(ingest)
    app.command("simulate")(simulate)
