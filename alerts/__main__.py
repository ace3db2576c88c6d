"""`python -m alerts`: the alerts process, configured from `ALPR_*` variables."""

from __future__ import annotations

import asyncio
import os

from alerts.service import run
from core import logs
from core.settings import AlertSettings


def main() -> int:
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    return asyncio.run(run(AlertSettings()))


if __name__ == "__main__":
    raise SystemExit(main())
