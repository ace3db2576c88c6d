"""`python -m gateway`: serve the gateway with uvicorn, settings from ALPR_* variables."""

from __future__ import annotations

import os

import uvicorn

from alpr import logs
from alpr.settings import GatewaySettings
from gateway.app import create_app


def main() -> None:
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    settings = GatewaySettings()
    settings.check_secrets()
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
