"""GraphiQL in a real headless Chromium: the page renders from the gateway's own
files (no CDN) and, once loaded, fetches the schema from /graphql."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from gateway.assets import fetch, installed
from tests.integration.gateway_server import serve, settings_for

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def ide_assets() -> None:
    html = get_graphql_ide_html(graphql_ide="graphiql")
    if not installed(html):
        if shutil.which("npm") is None:
            pytest.skip("GraphiQL's files are not installed and npm is missing")
        fetch(html)
    assert installed(html)


def _graphql_posts(metrics: str) -> float:
    # GraphiQL POSTs an introspection query once its JavaScript runs.
    found = re.search(
        r'^alpr_gateway_request_seconds_count\{method="POST",route="/graphql"\} (\S+)$',
        metrics,
        re.M,
    )
    return float(found[1]) if found else 0.0


async def _dump_dom(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 90)
    return stdout.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
async def test_graphiql_renders_offline_and_loads_the_schema(
    database_url: str, ide_assets: None, tmp_path: Path
) -> None:
    async with serve(settings_for(database_url)) as url, httpx.AsyncClient(base_url=url) as client:
        page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
        assert "unpkg.com" not in page and "/graphql-assets/graphiql@" in page
        before = _graphql_posts((await client.get("/metrics")).text)
        dom = await _dump_dom(f"{url}/graphql", tmp_path / "profile")
        after = _graphql_posts((await client.get("/metrics")).text)
    assert "graphiql-container" in dom  # React rendered GraphiQL
    assert after > before  # and it asked the gateway for the schema
