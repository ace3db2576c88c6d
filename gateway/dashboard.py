"""The operator dashboard and Swagger UI, served from the gateway's own files.

The dashboard (gateway/web/, ES modules without a build step; see
docs/adr/0014-dashboard.md) is a client of the public GraphQL API
like any other: the page itself carries no data and needs no key. Its
libraries and Swagger UI's come from npm at install time (`gateway.assets`);
`/docs` uses them when installed and FastAPI's CDN page otherwise. Static
files are gzipped: the whole dashboard must stay within 300 KB on the wire.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

from gateway.assets import VENDOR_DIR, vendor_installed

WEB_DIR = Path(__file__).parent / "web"
WEB_PATH = "/web"
VENDOR_PATH = f"{WEB_PATH}/vendor"
DOCS_PATH = "/docs"


def add_dashboard(app: FastAPI) -> None:
    """`/` (the dashboard), its files under `/web`, and `/docs` (Swagger UI).
    `app` must be created with `docs_url=None`."""

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        # Revalidated on every load: a new release's index names new files.
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger() -> HTMLResponse:
        openapi_url = app.openapi_url or "/openapi.json"
        title = f"{app.title} - API"
        if not vendor_installed("swagger-ui"):
            return get_swagger_ui_html(openapi_url=openapi_url, title=title)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{VENDOR_PATH}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR_PATH}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{WEB_PATH}/favicon.svg",
        )

    # The vendor mount first: `/web` would otherwise take its paths.
    vendor = StaticFiles(directory=VENDOR_DIR, check_dir=False)
    app.mount(VENDOR_PATH, GZipMiddleware(vendor, minimum_size=512), name="web-vendor")
    web = StaticFiles(directory=WEB_DIR)
    app.mount(WEB_PATH, GZipMiddleware(web, minimum_size=512), name="web")
