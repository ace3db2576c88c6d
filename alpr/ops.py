"""Operator commands of `alpr`: retention, legal holds, backup, import, export, status.

Each command builds its settings here, at the entry point, and passes them
down; the work itself lives in its room (`ingestor.retention`,
`core.holds`, `ingestor.sources.files` write; `gateway.export` reads;
`alpr.backup` and `alpr.status` are neither). Imports are lazy so that
`alpr --help` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast
from uuid import UUID

import asyncpg
import typer

from core.settings import DatabaseSettings, IngestorSettings, parse_site_days

T = TypeVar("T")
log = logging.getLogger("alpr.ops")

retention_app = typer.Typer(help="Delete reads past their retention age.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: keep reads from retention.", no_args_is_help=True)

WHO = Annotated[str, typer.Option("--by", help="who does this (recorded)")]


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        return "unknown"


def _with_pool(settings: DatabaseSettings, work: Callable[[asyncpg.Pool[Any]], Awaitable[T]]) -> T:
    async def run() -> T:
        from core.db import pool_for

        async with pool_for(settings) as pool:
            return await work(pool)

    return asyncio.run(run())


@retention_app.command("run")
def retention_run(
    days: Annotated[
        int | None, typer.Option(help="keep this many days (default: ALPR_RETENTION_DAYS)")
    ] = None,
    site_days: Annotated[
        str | None, typer.Option(help="per-site ages, SITE=DAYS,... (ALPR_RETENTION_SITE_DAYS)")
    ] = None,
) -> None:
    """Delete reads past their age now; held reads stay. Every deletion is recorded."""
    from ingestor.retention import RetentionPolicy, run_retention

    settings = IngestorSettings()
    try:
        sites = settings.site_days() if site_days is None else parse_site_days(site_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--site-days") from None
    policy = RetentionPolicy(days if days is not None else settings.retention_days, sites)
    if not policy.enabled:
        typer.echo("no retention age configured (ALPR_RETENTION_DAYS or --days)", err=True)
        raise typer.Exit(2)

    async def work(pool: asyncpg.Pool[Any]) -> Any:
        async with pool.acquire() as conn:
            return await run_retention(conn, policy)

    report = _with_pool(settings, work)
    if report.run_id is None:
        typer.echo("another retention run is in progress; nothing done")
        return
    for d in report.deletions:
        start = d.range_start.isoformat() if d.range_start else "-"
        site = d.site_id or "all sites"
        typer.echo(
            f"{d.method}\t[{start}, {d.range_end.isoformat()})\t{site}\t"
            f"rows={d.row_count}\theld_kept={d.held_rows_kept}"
        )
    typer.echo(
        f"run {report.run_id}: {report.deleted_rows} reads deleted, "
        f"{report.held_rows_kept} held reads kept"
    )


@hold_app.command("add")
def hold_add(
    reason: Annotated[str, typer.Option(help="why (recorded)")],
    event_id: Annotated[UUID | None, typer.Option(help="hold one read")] = None,
    plate: Annotated[str | None, typer.Option(help="hold every read of a plate")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="plate holds: from (ISO 8601, UTC)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="plate holds: until (ISO 8601, UTC)")
    ] = None,
    case: Annotated[str | None, typer.Option(help="case number grouping holds")] = None,
    by: WHO = "",
) -> None:
    """Place a legal hold on one read (--event-id) or a plate (--plate)."""
    from pydantic import ValidationError

    from core.holds import HoldRequest, add_hold

    try:
        request = HoldRequest(
            event_id=event_id,
            plate=plate,
            held_from=_utc(since),
            held_until=_utc(until),
            case_number=case,
            reason=reason,
            created_by=by or _default_user(),
        )
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from None
    hold = _with_pool(DatabaseSettings(), lambda pool: add_hold(pool, request))
    typer.echo(f"hold {hold.hold_id} placed on {hold.target()}")


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@hold_app.command("list")
def hold_list(
    all_: Annotated[bool, typer.Option("--all", help="released holds too")] = False,
    case: Annotated[str | None, typer.Option(help="only this case")] = None,
) -> None:
    """List holds (active ones unless --all)."""
    from core.holds import list_holds

    holds = _with_pool(
        DatabaseSettings(), lambda pool: list_holds(pool, active_only=not all_, case_number=case)
    )
    for h in holds:
        state = (
            f"released {h.released_at:%Y-%m-%d} by {h.released_by}" if h.released_at else "active"
        )
        typer.echo(
            f"{h.hold_id}\t{state}\tcase={h.case_number or '-'}\t{h.target()}\t"
            f"by={h.created_by}\t{h.created_at:%Y-%m-%d}\t{h.reason}"
        )
    if not holds:
        typer.echo("no holds", err=True)


@hold_app.command("release")
def hold_release(
    reason: Annotated[str, typer.Option(help="why (recorded)")],
    hold_id: Annotated[int | None, typer.Argument(help="the hold to release")] = None,
    case: Annotated[str | None, typer.Option(help="release every hold of this case")] = None,
    by: WHO = "",
) -> None:
    """Release one hold, or every hold of a case; the record stays."""
    from core.holds import release_holds

    if (hold_id is None) == (case is None):
        raise typer.BadParameter("give a hold id or --case, not both")
    released = _with_pool(
        DatabaseSettings(),
        lambda pool: release_holds(
            pool,
            released_by=by or _default_user(),
            reason=reason,
            hold_id=hold_id,
            case_number=case,
        ),
    )
    if not released:
        typer.echo("no active hold matched", err=True)
        raise typer.Exit(1)
    typer.echo(f"released {', '.join(map(str, released))}")


def _rate_column() -> Any:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Units per second, once rich has measured a speed."""

        def render(self, task: Task) -> Text:
            return Text("" if task.speed is None else f"{task.speed:,.0f}/s")

    return RateColumn()


@contextlib.contextmanager
def progress_reporter(label: str, unit: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress callback (done, total, note): a rich bar with rate and ETA on a
    terminal, a plain log line at most every 5 s otherwise."""
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{unit}"),
            _rate_column(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int, note: str) -> None:
                bar.update(task, completed=done, total=total or None)

            yield update
        return
    last = [0.0]

    def report(done: int, total: int, note: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 5 or (total and done >= total):
            last[0] = now
            log.info("%s: %d/%d %s", label, done, total, unit)

    yield report


def backup_command(
    archive: Annotated[Path, typer.Argument(help="the archive to write (custom format)")],
) -> None:
    """Back up the database with pg_dump (custom format) and write ARCHIVE.sha256."""
    from alpr.backup import backup

    settings = DatabaseSettings()
    with progress_reporter("backup", "tables") as progress:
        result = asyncio.run(backup(settings.dsn(), archive, progress))
    typer.echo(
        f"{result.archive} {result.size_bytes} bytes sha256={result.sha256} "
        f"in {result.seconds:.1f}s"
    )


def restore_command(
    archive: Annotated[Path, typer.Argument(help="an archive written by alpr backup")],
    jobs: Annotated[int, typer.Option(min=1, help="parallel restore jobs")] = 1,
) -> None:
    """Verify ARCHIVE's checksum and restore it into the (empty) configured database."""
    from alpr.backup import restore

    settings = DatabaseSettings()
    with progress_reporter("restore", "tables") as progress:
        seconds = asyncio.run(restore(settings.dsn(), archive, progress, jobs))
    typer.echo(f"restored {archive} in {seconds:.1f}s; run `alpr migrate` if the code is newer")


def import_command(
    files: Annotated[list[Path], typer.Argument(help="NDJSON, JSON array or CSV; .gz too")],
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 5000,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects file (default: FILE.rejects.ndjson)")
    ] = None,
    restart: Annotated[bool, typer.Option(help="ignore checkpoints, start over")] = False,
) -> None:
    """Import plate reads from files through the ingestor's validation and write path.

    Resumes an interrupted import from its checkpoint (FILE.alpr-import.json);
    records that cannot be stored go to the rejects file with the reason.
    """
    from ingestor.sources.files import import_file

    settings = IngestorSettings()
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file: {', '.join(missing)}")

    async def work(pool: asyncpg.Pool[Any]) -> list[Any]:
        reports = []
        for path in files:
            with progress_reporter(f"import {path.name}", "reads") as progress:
                reports.append(
                    await import_file(
                        pool,
                        path,
                        batch_size=batch_size,
                        naive_timezone=settings.naive_tz(),
                        window=settings.capture_window(),
                        rejects_path=rejects,
                        restart=restart,
                        progress=progress,
                    )
                )
        return reports

    reports = _with_pool(settings, work)
    for r in reports:
        where = f" rejects={r.rejects_path}" if r.rejected else ""
        typer.echo(
            f"{r.path}: stored={r.stored} duplicates={r.duplicates} rejected={r.rejected} "
            f"resumed_after={r.skipped} rate={r.rate:.0f}/s{where}"
        )


def export_command(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (.gz: gzip); default stdout")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or ndjson")] = "csv",
    plate: Annotated[str | None, typer.Option(help="a plate as read or normalized")] = None,
    camera: Annotated[str | None, typer.Option()] = None,
    site: Annotated[str | None, typer.Option()] = None,
    since: Annotated[datetime | None, typer.Option(help="captured at or after (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(help="captured before (UTC)")] = None,
    direction: Annotated[str | None, typer.Option()] = None,
    min_confidence: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    purpose: Annotated[str | None, typer.Option(help="why; kept in the audit log")] = None,
) -> None:
    """Export reads matching the gateway's events filters to CSV or NDJSON (audited)."""
    import gzip

    from gateway.export import Format, export_events
    from schema.filters import EventQuery

    if fmt not in ("csv", "ndjson"):
        raise typer.BadParameter("must be csv or ndjson", param_hint="--format")
    query = EventQuery(
        plate=plate,
        camera_id=camera,
        site_id=site,
        since=_utc(since),
        until=_utc(until),
        direction=direction,
        min_confidence=min_confidence,
    )
    settings = DatabaseSettings()

    async def work(pool: asyncpg.Pool[Any]) -> int:
        with contextlib.ExitStack() as stack:
            if output is None:
                out: Any = sys.stdout
            elif output.suffix == ".gz":
                out = stack.enter_context(gzip.open(output, "wt", newline=""))
            else:
                out = stack.enter_context(output.open("w", newline=""))
            async with pool.acquire() as conn:
                return await export_events(
                    conn,
                    query,
                    out,
                    cast(Format, fmt),
                    purpose,
                    lambda n: log.info("export: %d reads written", n),
                )

    count = _with_pool(settings, work)
    typer.echo(f"exported {count} reads", err=True)


def status_command(
    ingestor_metrics: Annotated[
        str, typer.Option(help="the ingestor's Prometheus endpoint")
    ] = "http://127.0.0.1:9101/metrics",
    gateway_metrics: Annotated[
        str, typer.Option(help="the gateway's Prometheus endpoint")
    ] = "http://127.0.0.1:8000/metrics",
) -> None:
    """Print ingest rate, lag, dead letters, database size, last read and more."""
    from alpr.status import collect, render

    endpoints = {"ingestor": ingestor_metrics, "gateway": gateway_metrics}
    status = _with_pool(DatabaseSettings(), lambda pool: collect(pool, endpoints))
    for line in render(status):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the operator commands to the `alpr` application."""
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.command("import")(import_command)
    app.command("export")(export_command)
    app.command("status")(status_command)
