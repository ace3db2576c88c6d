"""`alpr`: one command line for every job (migrate, up, and the processes)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from alpr import ops
from core import logs
from core.migrate import EnginePreference, migrate
from core.settings import DatabaseSettings
from schema.errors import AlprError, InvalidRequest

app = typer.Typer(
    help="ALPR plate reads: ingest them from Kafka, query them over GraphQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _setup(
    log_level: Annotated[str, typer.Option(envvar="ALPR_LOG_LEVEL")] = "INFO",
) -> None:
    logs.configure(log_level)


@app.command("migrate")
def migrate_command(
    engine: Annotated[
        str, typer.Option(help="auto, postgres or timescaledb", envvar="ALPR_DB_ENGINE")
    ] = "auto",
) -> None:
    """Apply pending database migrations (safe to run twice or concurrently)."""
    if engine not in ("auto", "postgres", "timescaledb"):
        raise typer.BadParameter("must be auto, postgres or timescaledb", param_hint="--engine")
    settings = DatabaseSettings()
    settings.check_secrets()
    report = asyncio.run(migrate(settings.dsn(), cast(EnginePreference, engine)))
    applied = ", ".join(report.applied) or "none"
    typer.echo(f"engine={report.engine} applied={applied} already={report.already}")


def _services() -> list[str]:
    """The service processes this installation has, in start order."""
    return [
        name for name in ("ingestor", "gateway") if importlib.util.find_spec(f"{name}.__main__")
    ]


async def _wait_until_up(url: str, timeout_s: float = 60.0) -> bool:
    """Poll `url` until it answers 200, or give up after `timeout_s`."""
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    return False


async def _start_feeder(
    env: dict[str, str], feeder: list[str]
) -> asyncio.subprocess.Process | None:
    """Start the synthetic feed once the ingestor takes events over HTTP."""
    port = env.get("ALPR_INGEST_HTTP_PORT", "8001")
    if not await _wait_until_up(f"http://127.0.0.1:{port}/health"):
        typer.echo("the ingestor did not come up; no synthetic reads sent", err=True)
        return None
    typer.echo("sending synthetic reads (alpr up --simulate)")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alpr", *feeder, "--url", f"http://127.0.0.1:{port}/ingest", env=env
    )


async def _supervise(env: dict[str, str], services: list[str], feeder: list[str]) -> int:
    """Run each service as a child process; stop them all when one ends or on a signal.

    The feeder (`--simulate`) is a helper, not a service: its end stops nothing.
    """
    children = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", name, env=env)
        for name in services
    ]
    stop = _stop_on_signals()
    waits = [asyncio.ensure_future(child.wait()) for child in children]
    stopper = asyncio.ensure_future(stop.wait())
    feeding = asyncio.ensure_future(_start_feeder(env, feeder)) if feeder else None
    await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    helpers = [feeding.result()] if feeding and feeding.done() else []
    if feeding and not feeding.done():
        feeding.cancel()
    for child in [*helpers, *children]:
        if child is not None and child.returncode is None:
            child.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*waits)
    stopper.cancel()
    return 0 if stop.is_set() else max(codes, key=abs, default=0)


async def _up(data_dir: Path, engine: EnginePreference, feeder: list[str]) -> int:
    env = dict(os.environ)
    server = None
    if "ALPR_DATABASE_URL" not in env and "ALPR_DB_HOST" not in env:
        from core.embedded import embedded_database

        server, url = await embedded_database(data_dir, DatabaseSettings().db_name)
        env["ALPR_DATABASE_URL"] = url
        # Local mode: loopback only, so API keys are off unless asked for.
        env.setdefault("ALPR_REQUIRE_KEYS", "false")
    # Without a configured broker the ingestor takes events over HTTP only.
    env.setdefault(
        "ALPR_KAFKA_ENABLED", "true" if "ALPR_KAFKA_BOOTSTRAP_SERVERS" in env else "false"
    )
    settings = DatabaseSettings(database_url=env.get("ALPR_DATABASE_URL"))
    report = await migrate(settings.dsn(), engine)
    typer.echo(f"database ready ({report.engine}, {settings.describe()})")
    services = _services()
    if not services:
        typer.echo("no service processes installed; the database stays up until Ctrl-C")
    code = await _supervise(env, services, feeder) if services else await _wait_for_signal()
    del server  # the embedded server stops when the process exits
    return code


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, or a service manager)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for_signal() -> int:
    await _stop_on_signals().wait()
    return 0


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(help="where the embedded database lives", envvar="ALPR_DATA_DIR")
    ] = Path(".alpr"),
    engine: Annotated[str, typer.Option(envvar="ALPR_DB_ENGINE")] = "auto",
    simulate: Annotated[
        bool, typer.Option("--simulate", help="feed synthetic reads so there is data to see")
    ] = False,
    rate: Annotated[float, typer.Option(min=0.1, help="synthetic reads per second")] = 5.0,
) -> None:
    """Run everything on one machine: the embedded database unless one is configured,
    migrations, the ingestor and the gateway."""
    # A feed that runs until Ctrl-C: a day's worth at the chosen rate.
    feeder = ["simulate", "--to", "http", "--rate", str(rate), "--count", str(int(rate * 86400))]
    code = asyncio.run(_up(data_dir, cast(EnginePreference, engine), feeder if simulate else []))
    raise typer.Exit(code)


keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

# The ingestor's own commands (`alpr ingest`, `alpr simulate`) live with it.
if importlib.util.find_spec("alpr.ingest_commands"):
    from alpr.ingest_commands import register as _register_ingestor

    _register_ingestor(app)
ops.register(app)


async def _with_pool(work: Any) -> Any:
    from core.db import pool_for

    settings = DatabaseSettings()
    async with pool_for(settings) as pool:
        return await work(pool)


_DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _expiry(expires_in: str | None, expires_at: str | None) -> datetime | None:
    """When a new key expires: `--expires-in 90d` (m, h, d or w) from now, or
    `--expires-at` (ISO 8601, UTC unless it names an offset); None for never."""
    if expires_in is not None and expires_at is not None:
        raise typer.BadParameter("give it or --expires-at, not both", param_hint="--expires-in")
    if expires_at is not None:
        try:
            moment = datetime.fromisoformat(expires_at)
        except ValueError:
            raise typer.BadParameter(
                "expected ISO 8601: 2026-06-30T00:00Z", param_hint="--expires-at"
            ) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if moment <= datetime.now(UTC):
            raise typer.BadParameter("is in the past", param_hint="--expires-at")
        return moment
    if expires_in is None:
        return None
    number, unit = expires_in[:-1], expires_in[-1:]
    if not number.isdigit() or unit not in _DURATION_UNITS or int(number) < 1:
        raise typer.BadParameter(
            "expected a count and m, h, d or w: 90d", param_hint="--expires-in"
        )
    return datetime.now(UTC) + timedelta(seconds=int(number) * _DURATION_UNITS[unit])


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="who or what the key is for")],
    scope: Annotated[list[str], typer.Option(help="read, ingest or admin; repeatable")],
    expires_in: Annotated[
        str | None, typer.Option(help="the key expires after this long: 30m, 12h, 90d, 2w")
    ] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="the key expires then: ISO 8601, UTC unless it has an offset")
    ] = None,
) -> None:
    """Create a key and print it once; only its digest is stored."""
    from core.keys import SCOPES, Scope, create_key

    bad = [s for s in scope if s not in SCOPES]
    if bad:
        raise typer.BadParameter(f"unknown scope {bad[0]!r}", param_hint="--scope")
    scopes = cast(list[Scope], scope)
    expiry = _expiry(expires_in, expires_at)
    key_id, token = asyncio.run(_with_pool(lambda pool: create_key(pool, name, scopes, expiry)))
    typer.echo(f"key_id={key_id}")
    typer.echo(token)
    if expiry is not None:
        typer.echo(f"expires={expiry.isoformat()}", err=True)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets): id, state, scopes, expiry, last use, name."""
    from core.keys import list_keys

    now = datetime.now(UTC)
    for key in asyncio.run(_with_pool(list_keys)):
        expired = key.expires_at is not None and key.expires_at <= now
        state = "revoked" if key.revoked_at else "expired" if expired else "active"
        expires = key.expires_at.isoformat() if key.expires_at else "never"
        # Written at most once a minute per key: a recent use may not show yet.
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        typer.echo(
            f"{key.key_id}\t{state}\t{','.join(key.scopes)}\texpires={expires}\t"
            f"used={used}\t{key.name}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    from core.keys import revoke_key

    if not asyncio.run(_with_pool(lambda pool: revoke_key(pool, key_id))):
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="plate text, wildcard (AB?12*) or fragment")],
    mode: Annotated[str, typer.Option(help="exact, wildcard or fuzzy")] = "fuzzy",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    max_distance: Annotated[float, typer.Option(help="fuzzy: largest cost")] = 2.0,
    camera: Annotated[str | None, typer.Option()] = None,
    site: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    since: Annotated[datetime | None, typer.Option(help="a read at or after (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(help="a read before (UTC)")] = None,
    purpose: Annotated[str | None, typer.Option(help="why; kept in the audit log")] = None,
) -> None:
    """Search plates (exact, wildcard or OCR-tolerant fuzzy); the search is audited."""
    from gateway.plate_search import SearchLimits, audit_search, search_plates
    from schema.plate_match import SearchFilter, SearchMode

    def utc(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment

    async def work(pool: Any) -> Any:
        page = await search_plates(
            pool,
            query,
            SearchMode(mode),
            SearchFilter(utc(since), utc(until), camera, site, region),
            first=limit,
            limits=SearchLimits(max_distance=max_distance),
        )
        variables = {
            "query": query,
            "mode": mode,
            "limit": limit,
            "camera": camera,
            "site": site,
            "region": region,
            "since": str(since),
            "until": str(until),
        }
        await audit_search(pool, "cli", variables, len(page.matches), purpose)
        return page

    if mode not in ("exact", "wildcard", "fuzzy"):
        raise typer.BadParameter("must be exact, wildcard or fuzzy", param_hint="--mode")
    page = asyncio.run(_with_pool(work))
    typer.echo("plate\tscore\treads\tfirst_seen\tlast_seen\tregion\tcameras")
    for m in page.matches:
        typer.echo(
            f"{m.plate}\t{m.score:g}\t{m.read_count}\t{m.first_seen.isoformat()}\t"
            f"{m.last_seen.isoformat()}\t{m.last_region}\t{','.join(m.cameras)}"
        )
    if not page.complete:
        typer.echo("(partial: the search looked at a bounded part of the plates)", err=True)


@app.command("gateway")
def gateway_command(
    host: Annotated[str | None, typer.Option(help="listen address (ALPR_GATEWAY_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (ALPR_GATEWAY_PORT)")] = None,
) -> None:
    """Serve GraphQL (/graphql, GraphiQL, subscriptions) and the REST endpoints."""
    from gateway.__main__ import serve

    serve(host, port)


def main() -> None:
    """Run the command line; the project's own errors end it with one line, not a traceback."""
    try:
        app()
    except AlprError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, InvalidRequest) else 1)
