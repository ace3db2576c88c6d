"""`python -m gateway` (and `alpr gateway`): serve the gateway with uvicorn.

Settings come from ALPR_* variables, built here once and passed down.
"""

from __future__ import annotations

import os

import uvicorn

from alpr import logs
from alpr.settings import GatewaySettings
from gateway.app import create_app


def serve(host: str | None = None, port: int | None = None) -> None:
    """Run until interrupted; `host`/`port` override the settings."""
    changes = {k: v for k, v in (("gateway_host", host), ("gateway_port", port)) if v is not None}
    settings = GatewaySettings(**changes)  # type: ignore[arg-type]
    settings.check_secrets()
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        # Access lines carry paths such as /events/plate/ABC123: plate text
        # must not reach INFO logs. Request counts and times are in /metrics.
        access_log=False,
        proxy_headers=False,
        ws="websockets-sansio",
    )


def main() -> None:
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    serve()


if __name__ == "__main__":
    main()
