"""`python -m gateway` (and `alpr gateway`): serve the gateway with uvicorn.

Settings come from ALPR_* variables, built here once and passed down.
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import FastAPI

from core import logs
from core.settings import GatewaySettings
from gateway.app import create_app


def serve(host: str | None = None, port: int | None = None) -> None:
    """Run until interrupted; `host`/`port` override the settings.

    With ALPR_GATEWAY_WORKERS > 1 uvicorn runs that many processes on one
    socket, each building its app from the environment (`app_from_env`) with
    its own pools and live listener: Python runs on one core per process.
    """
    changes = {k: v for k, v in (("gateway_host", host), ("gateway_port", port)) if v is not None}
    settings = GatewaySettings(**changes)  # type: ignore[arg-type]
    settings.check_secrets()
    create_app(settings)  # refuse bad settings here, before any worker starts
    options: dict[str, Any] = {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "log_config": None,
        # Access lines carry paths such as /events/plate/ABC123: plate text
        # must not reach INFO logs. Request counts and times are in /metrics.
        "access_log": False,
        "proxy_headers": False,
        "ws": "websockets-sansio",
        # Compressing every live event costs more CPU than the bandwidth it
        # saves on the networks dashboards sit on; fan-out is CPU-bound.
        "ws_per_message_deflate": False,
        # No websocket message the gateway takes is larger than a request body.
        "ws_max_size": settings.max_request_bytes,
    }
    if settings.gateway_workers > 1:
        uvicorn.run(
            "gateway.__main__:app_from_env",
            factory=True,
            workers=settings.gateway_workers,
            **options,
        )
    else:
        uvicorn.run(create_app(settings), **options)


def app_from_env() -> FastAPI:
    """The entry point of each worker process: settings from its environment."""
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    return create_app(GatewaySettings())


def main() -> None:
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    serve()


if __name__ == "__main__":
    main()
