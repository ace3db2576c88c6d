"""`python -m ingestor`: the ingestor process, configured from `ALPR_*` variables."""

from __future__ import annotations

import asyncio
import os

from core import logs
from core.settings import IngestorSettings
from ingestor.service import run


def main() -> int:
    logs.configure(os.environ.get("ALPR_LOG_LEVEL", "INFO"))
    return asyncio.run(run(IngestorSettings()))


if __name__ == "__main__":
    raise SystemExit(main())
