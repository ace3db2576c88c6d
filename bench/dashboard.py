"""First screen with data: the dashboard in headless Chromium against a gateway
over a database of N reads.

Builds the database in SQL (`bench/history_data.py`: reads over `--days`
days and every table the writer keeps), or times an `--existing` one;
starts `python -m gateway` on it; then opens the dashboard in a fresh tab
per run and times from navigation to the screen showing its data:

- `live`  (the first screen): the 20 newest reads in the table;
- `stats`: the totals, the reads-per-hour chart and the ingest health;
- `alerts`: the inbox loaded (empty or not).

Cold runs disable the browser cache (a first visit: every module fetched);
warm runs keep it (a reload). Medians and maxima in seconds.

    TS=postgresql://postgres@127.0.0.1:55432/postgres
    .venv/bin/python bench/dashboard.py --admin-url $TS --reads 1000000 --days 30 --keep
    .venv/bin/python bench/dashboard.py --existing postgresql://…/alpr_bench_dash_1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.history import admin, build  # noqa: E402
from tests.e2e.cdp import CHROMIUM, Browser, Page  # noqa: E402

SCREENS = {
    "live": ("#/live", "document.querySelectorAll('main table tbody tr').length >= 20"),
    "stats": (
        "#/stats",
        "!!document.querySelector('.uplot') && (document.querySelector('main') || {})"
        ".innerText.includes('Stored in the last hour')",
    ),
    "alerts": ("#/alerts", "!!document.querySelector('.inbox-list')"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_gateway(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": url,
        "ALPR_GATEWAY_PORT": str(port),
        "ALPR_REQUIRE_KEYS": "false",
        "ALPR_LOG_LEVEL": "WARNING",
    }
    log = Path(tempfile.gettempdir()) / f"alpr-bench-dashboard-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "gateway"], env=env, stderr=sink)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            try:
                if (await client.get("/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the gateway did not become ready (see {log})")


async def first_screen(browser: Browser, url: str, ready: str, cold: bool) -> float:
    """Seconds from navigation to `ready` in a fresh tab."""
    page: Page = await browser.page()
    try:
        await page.send("Network.enable")
        await page.send("Network.setCacheDisabled", {"cacheDisabled": cold})
        started = time.perf_counter()
        await page.goto(url)
        await page.wait_for(ready, timeout=60)
        elapsed = time.perf_counter() - started
        if page.errors:
            raise RuntimeError(f"JavaScript errors: {page.errors}")
        return elapsed
    finally:
        await page.send("Page.close")


async def time_screens(base: str, runs: int, profile: Path) -> None:
    async with Browser.start(profile) as browser:
        # One visit first so the warm runs have something cached.
        await first_screen(browser, f"{base}/#/live", SCREENS["live"][1], cold=False)
        for name, (route, ready) in SCREENS.items():
            for cold in (True, False):
                times = [
                    await first_screen(browser, f"{base}/{route}", ready, cold) for _ in range(runs)
                ]
                label = "cold" if cold else "warm"
                print(
                    f"  {name:<7}{label}: median {statistics.median(times):.3f} s, "
                    f"max {max(times):.3f} s ({runs} runs)",
                    flush=True,
                )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:55432/postgres")
    parser.add_argument("--engine", default="timescaledb", choices=("timescaledb", "postgres"))
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--existing", help="time this database; build nothing")
    parser.add_argument("--keep", action="store_true", help="keep the database built")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium is not installed")
    name = f"alpr_bench_dash_{args.reads}"
    url = args.existing or await build(args.admin_url, name, args.engine, args.reads, args.days)
    port = free_port()
    gateway = await start_gateway(url, port)
    try:
        with tempfile.TemporaryDirectory() as profile:
            print(f"dashboard first screen, {url.rsplit('/', 1)[-1]}:", flush=True)
            await time_screens(f"http://127.0.0.1:{port}", args.runs, Path(profile))
    finally:
        gateway.terminate()
        gateway.wait(10)
        if not args.existing and not args.keep:
            await admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
