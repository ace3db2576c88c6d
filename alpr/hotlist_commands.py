"""`alpr hotlist …` and `alpr alerts …`: watch lists and the alerts they raise.

The work is core.hotlists, core.hotlist_import and core.alerts, as for the
gateway. A change names who (`--by`, else the login name) and why
(`--purpose`); both go to its audit record. Showing entries or alerts is a
read of plate data and writes an audit record too. Imports are lazy so
that `alpr --help` stays fast.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import asyncpg
import typer

from core.settings import BackfillSettings, DatabaseSettings

if TYPE_CHECKING:
    from core.hotlists import Actor

T = TypeVar("T")

hotlist_app = typer.Typer(help="Watch lists: create, fill, import, show.", no_args_is_help=True)
webhook_app = typer.Typer(help="A list's webhook: set, show, remove.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: list, show, triage, report.", no_args_is_help=True)
hotlist_app.add_typer(webhook_app, name="webhook")

By = Annotated[str, typer.Option("--by", help="who does this (recorded)")]
Why = Annotated[str | None, typer.Option("--purpose", help="why (recorded in the audit log)")]
BackfillDays = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="search past reads this far (default ALPR_ALERT_BACKFILL_DAYS; "
        "never further than ALPR_RETENTION_DAYS)",
    ),
]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _run(work: Callable[[asyncpg.Pool[Any]], Awaitable[T]]) -> T:
    async def run() -> T:
        from core.db import pool_for

        async with pool_for(DatabaseSettings()) as pool:
            return await work(pool)

    return asyncio.run(run())


def _backfill(days: int | None) -> int:
    return BackfillSettings().backfill_days(days)


def _actor(by: str, purpose: str | None) -> Actor:
    from core.hotlists import Actor

    name = by
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, e.g. in a container
            name = "unknown"
    return Actor(f"cli:{name}", None, "cli", purpose)


def _duration(text: str | None, hint: str) -> timedelta | None:
    """`90m`, `24h`, `7d`, `2w` (or seconds); None for None."""
    if text is None:
        return None
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not number.isdigit() or int(number) < 1:
        raise typer.BadParameter("expected a count and s, m, h, d or w: 24h", param_hint=hint)
    return timedelta(seconds=int(number) * _UNITS[unit])


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _model(cls: Any, **data: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(f"{where}: {first['msg']}" if where else first["msg"]) from None


def _age(moment: datetime) -> str:
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- lists -----------------------------------------------------------------


@hotlist_app.command("create")
def create(
    name: str,
    priority: Annotated[
        int, typer.Option(min=0, max=100, help="0-100, higher is more urgent")
    ] = 50,
    mode: Annotated[str, typer.Option(help="exact, wildcard or fuzzy")] = "exact",
    max_cost: Annotated[float, typer.Option(help="fuzzy: largest OCR cost")] = 1.0,
    site: Annotated[list[str] | None, typer.Option(help="scope: a site; repeatable")] = None,
    camera: Annotated[list[str] | None, typer.Option(help="scope: a camera; repeatable")] = None,
    max_age: Annotated[str | None, typer.Option(help="stale after this long: 26h, 2d")] = None,
    source: Annotated[str, typer.Option(help="where the list comes from")] = "manual",
    description: Annotated[str | None, typer.Option()] = None,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Create a list (both scopes empty: every camera)."""
    from core.hotlists import HotlistSpec, create_hotlist

    spec = _model(
        HotlistSpec,
        name=name,
        priority=priority,
        match_mode=mode,
        max_cost=max_cost,
        site_ids=site or [],
        camera_ids=camera or [],
        max_age=_duration(max_age, "--max-age"),
        source=source,
        description=description,
    )
    made = _run(lambda pool: create_hotlist(pool, spec, _actor(by, purpose)))
    typer.echo(f"hotlist {made.name} created (id {made.hotlist_id})")


@hotlist_app.command("update")
def update(
    name: str,
    priority: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    mode: Annotated[str | None, typer.Option(help="exact, wildcard or fuzzy")] = None,
    max_cost: Annotated[float | None, typer.Option()] = None,
    site: Annotated[list[str] | None, typer.Option(help="replaces the sites; repeatable")] = None,
    camera: Annotated[list[str] | None, typer.Option(help="replaces the cameras")] = None,
    max_age: Annotated[str | None, typer.Option(help="stale after this long")] = None,
    no_max_age: Annotated[bool, typer.Option("--no-max-age", help="never stale")] = False,
    source: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Change a list's settings; options not given are kept."""
    from core.hotlists import HotlistChanges, update_hotlist

    changes = _model(
        HotlistChanges,
        priority=priority,
        match_mode=mode,
        max_cost=max_cost,
        site_ids=site,
        camera_ids=camera,
        max_age=_duration(max_age, "--max-age"),
        clear_max_age=no_max_age,
        source=source,
        description=description,
    )
    done = _run(lambda pool: update_hotlist(pool, name, changes, _actor(by, purpose)))
    typer.echo(f"hotlist {done.name} updated (revision {done.revision})")


@hotlist_app.command("delete")
def delete(name: str, by: By = "", purpose: Why = None) -> None:
    """Delete a list: it stops matching; its entries and alerts stay."""
    from core.hotlists import delete_hotlist

    _run(lambda pool: delete_hotlist(pool, name, _actor(by, purpose)))
    typer.echo(f"hotlist {name} deleted")


@hotlist_app.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="deleted lists too")] = False) -> None:
    """Lists: name, priority, mode, entries, freshness, source."""
    from core.hotlists import list_hotlists

    found = _run(lambda pool: list_hotlists(pool, include_deleted=all_))
    typer.echo("name\tpriority\tmode\tentries\trefreshed\tstate\tsource")
    for h in found:
        state = "deleted" if h.deleted_at else "STALE" if h.stale else "fresh"
        typer.echo(
            f"{h.name}\t{h.priority}\t{h.match_mode}\t{h.entry_count}\t"
            f"{_age(h.refreshed_at)} ago\t{state}\t{h.source}"
        )


@hotlist_app.command("show")
def show(
    name: str,
    plate: Annotated[str | None, typer.Option(help="only this plate")] = None,
    reason: Annotated[str | None, typer.Option(help="only this reason")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    by: By = "",
    purpose: Why = None,
) -> None:
    """A list's settings and its newest entries (a read of plate data: audited)."""
    from core.hotlists import EntryFilter, get_hotlist, list_entries, write_audit

    async def work(pool: asyncpg.Pool[Any]) -> Any:
        found = await get_hotlist(pool, name)
        entries, more = await list_entries(
            pool, found.hotlist_id, EntryFilter(plate, reason, active), limit
        )
        variables = {"hotlist": name, "plate": plate, "reason": reason, "active": active}
        await write_audit(pool, _actor(by, purpose), "cli hotlist show", variables, len(entries))
        return found, entries, more

    found, entries, more = _run(work)
    age = "never stale" if found.max_age is None else f"max age {found.max_age}"
    scope = ",".join(found.site_ids + found.camera_ids) or "every camera"
    typer.echo(
        f"{found.name}: priority {found.priority}, {found.match_mode} (max cost "
        f"{found.max_cost:g}), scope {scope}, {found.entry_count} entries, refreshed "
        f"{_age(found.refreshed_at)} ago ({age}{', STALE' if found.stale else ''}), "
        f"source {found.source}, revision {found.revision}"
    )
    typer.echo("id\tplate\tregion\treason\tmode\tvalid_until\tstate\tcase")
    for e in entries:
        state = "removed" if e.removed_at else "active" if e.active else "inactive"
        until = e.valid_until.isoformat() if e.valid_until else "-"
        typer.echo(
            f"{e.entry_id}\t{e.plate}\t{e.region or '-'}\t{e.reason}\t{e.effective_mode}\t"
            f"{until}\t{state}\t{e.case_number or '-'}"
        )
    if more:
        typer.echo(f"(more than {limit} entries; narrow with --plate/--reason)", err=True)


# --- entries ---------------------------------------------------------------


@hotlist_app.command("add")
def add(
    name: str,
    plate: str,
    reason: Annotated[str, typer.Option(help="why the vehicle is wanted (required)")],
    region: Annotated[str | None, typer.Option(help="state or region")] = None,
    case: Annotated[str | None, typer.Option(help="case number")] = None,
    agency: Annotated[str | None, typer.Option()] = None,
    record: Annotated[str | None, typer.Option(help="the source's record number")] = None,
    notes: Annotated[str | None, typer.Option()] = None,
    mode: Annotated[
        str | None, typer.Option(help="exact, wildcard or fuzzy (else the list's)")
    ] = None,
    max_cost: Annotated[float | None, typer.Option()] = None,
    valid_from: Annotated[datetime | None, typer.Option("--from", help="UTC unless offset")] = None,
    valid_until: Annotated[
        datetime | None, typer.Option("--until", help="UTC unless offset")
    ] = None,
    backfill_days: BackfillDays = None,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Add an entry; reads of the last --backfill-days are searched for it."""
    from core.hotlists import EntrySpec, add_entry

    spec = _model(
        EntrySpec,
        plate=plate,
        region=region,
        reason=reason,
        case_number=case,
        agency=agency,
        record_number=record,
        notes=notes,
        match_mode=mode,
        max_cost=max_cost,
        valid_from=_utc(valid_from),
        valid_until=_utc(valid_until),
    )
    entry = _run(
        lambda pool: add_entry(
            pool, name, spec, _actor(by, purpose), backfill_days=_backfill(backfill_days)
        )
    )
    typer.echo(f"entry {entry.entry_id} added: {entry.plate} ({entry.effective_mode})")


@hotlist_app.command("remove")
def remove(entry_id: int, by: By = "", purpose: Why = None) -> None:
    """Remove an entry: it stops matching; its row and alerts stay."""
    from core.hotlists import remove_entry

    entry = _run(lambda pool: remove_entry(pool, entry_id, _actor(by, purpose)))
    typer.echo(f"entry {entry.entry_id} removed from {entry.hotlist}")


@hotlist_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or NDJSON, gzip ok")
    ],
    list_name: Annotated[str, typer.Option("--list", help="the list to fill")],
    replace: Annotated[
        bool, typer.Option("--replace", help="the file is the whole list: remove what it lacks")
    ] = False,
    mapping: Annotated[
        str | None, typer.Option("--map", help="field=HEADER,...: plate=LIC,region=LIS")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or ndjson (else by name or content)")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="the reason of rows without one (e.g. stolen)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="list the plates changed")] = False,
    backfill_days: BackfillDays = None,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Import a list from a file in one transaction; report the diff and every refused row."""
    from core.hotlist_import import ColumnMap, Format, ImportOptions, import_file

    if file_format not in (None, "csv", "ndjson"):
        raise typer.BadParameter("must be csv or ndjson", param_hint="--format")
    fmt: Format | None = file_format  # type: ignore[assignment]
    options = ImportOptions(
        replace=replace,
        columns=ColumnMap.parse(mapping),
        file_format=fmt,
        default_reason=reason,
        verbose=verbose,
        backfill_days=_backfill(backfill_days),
    )
    report = _run(lambda pool: import_file(pool, list_name, file, options, _actor(by, purpose)))
    typer.echo(
        f"{report.hotlist}: {report.rows} rows, {report.accepted} accepted: "
        f"{report.added} added, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.removed} removed; {report.rejected_count} refused (revision {report.revision})"
    )
    for label, plates in (
        ("added", report.added_plates),
        ("changed", report.changed_plates),
        ("removed", report.removed_plates),
    ):
        for plate in plates:
            typer.echo(f"{label}\t{plate}")
    for refused in report.rejected:
        typer.echo(f"line {refused.line}: {refused.reason}", err=True)
    if report.rejected_count > len(report.rejected):
        typer.echo(f"... and {report.rejected_count - len(report.rejected)} more", err=True)


# --- webhooks --------------------------------------------------------------


@webhook_app.command("set")
def webhook_set(
    name: str,
    url: Annotated[str, typer.Option(help="http(s) URL receiving the alerts")],
    secret: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="ALPR_WEBHOOK_SECRET",
            help="16+ characters signing each delivery (prompted; or ALPR_WEBHOOK_SECRET)",
        ),
    ],
    by: By = "",
    purpose: Why = None,
) -> None:
    """Set the list's webhook; the secret is stored, never shown again."""
    from core.hotlists import set_webhook

    hook = _run(lambda pool: set_webhook(pool, name, url, secret, _actor(by, purpose)))
    typer.echo(f"webhook {hook.webhook_id} of {name} delivers to {hook.url}")


@webhook_app.command("show")
def webhook_show(name: str) -> None:
    """The list's webhook: URL and delivery state (never the secret)."""
    from core.hotlists import get_webhook

    hook = _run(lambda pool: get_webhook(pool, name))
    if hook is None:
        typer.echo(f"{name} has no webhook")
        return
    state = "enabled" if hook.enabled else "removed"
    failing = f", failing since {hook.failing_since:%Y-%m-%d %H:%M}Z" if hook.failing_since else ""
    typer.echo(f"{hook.url}\t{state}{failing}\t{hook.last_error or ''}")


@webhook_app.command("remove")
def webhook_remove(name: str, by: By = "", purpose: Why = None) -> None:
    """Stop the list's webhook (its delivery log stays)."""
    from core.hotlists import remove_webhook

    if not _run(lambda pool: remove_webhook(pool, name, _actor(by, purpose))):
        typer.echo(f"{name} has no webhook", err=True)
        raise typer.Exit(1)
    typer.echo(f"webhook of {name} removed")


# --- alerts ----------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="new, acknowledged or closed")] = None,
    hotlist: Annotated[str | None, typer.Option()] = None,
    priority_at_least: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    site: Annotated[str | None, typer.Option()] = None,
    camera: Annotated[str | None, typer.Option()] = None,
    since: Annotated[datetime | None, typer.Option(help="passes seen since (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(help="passes begun before (UTC)")] = None,
    historical: Annotated[bool | None, typer.Option("--historical/--live")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Alerts, newest first (a read of plate data: audited)."""
    from core.alerts import AlertFilter, list_alerts
    from core.hotlists import write_audit

    query = AlertFilter(
        status,  # type: ignore[arg-type]
        hotlist,
        priority_at_least,
        site,
        camera,
        _utc(since),
        _utc(until),
        historical,
    )

    async def work(pool: asyncpg.Pool[Any]) -> Any:
        found, _ = await list_alerts(pool, query, limit)
        variables = {k: str(v) for k, v in asdict(query).items() if v is not None}
        await write_audit(pool, _actor(by, purpose), "cli alerts list", variables, len(found))
        return found

    typer.echo(
        "id\tstatus\tpriority\thotlist\treason\tplate\tentry\tcost\tcamera\tlast_seen\treads"
    )
    for a in _run(work):
        flags = " REGION?" if a.region_mismatch else ""
        flags += " (historical)" if a.historical else ""
        typer.echo(
            f"{a.alert_id}\t{a.status}\t{a.priority}\t{a.hotlist}\t{a.reason}\t{a.plate_read}\t"
            f"{a.entry_plate}\t{a.cost:g}\t{a.camera_id}\t{a.last_seen:%Y-%m-%d %H:%M:%S}Z\t"
            f"{a.read_count}{flags}"
        )


@alerts_app.command("show")
def alerts_show(alert_id: int, by: By = "", purpose: Why = None) -> None:
    """One alert with its reads (a read of plate data: audited)."""
    from core.alerts import alert_reads, get_alert
    from core.hotlists import write_audit

    async def work(pool: asyncpg.Pool[Any]) -> Any:
        alert = await get_alert(pool, alert_id)
        reads = await alert_reads(pool, alert_id)
        actor = _actor(by, purpose)
        await write_audit(pool, actor, "cli alerts show", {"alert_id": alert_id}, 1 + len(reads))
        return alert, reads

    alert, reads = _run(work)
    for key, value in alert.model_dump().items():
        typer.echo(f"{key:18}{json.dumps(value, default=str)}")
    typer.echo("reads:")
    for r in reads:
        camera = r.event["camera_id"] if r.event is not None else "(gone: retention)"
        typer.echo(f"  {r.event_id}\t{r.captured_at.isoformat()}\t{r.confidence:.2f}\t{camera}")


@alerts_app.command("ack")
def alerts_ack(alert_id: int, by: By = "", purpose: Why = None) -> None:
    """Acknowledge a new alert."""
    from core.alerts import acknowledge

    alert = _run(lambda pool: acknowledge(pool, alert_id, _actor(by, purpose)))
    typer.echo(f"alert {alert.alert_id} acknowledged by {alert.acknowledged_by}")


@alerts_app.command("close")
def alerts_close(
    alert_id: int,
    disposition: Annotated[
        str, typer.Option(help="confirmed, misread, entry_outdated or no_action")
    ],
    note: Annotated[str | None, typer.Option()] = None,
    image_matches: Annotated[
        bool | None, typer.Option("--image-matches/--image-differs", help="checklist")
    ] = None,
    region_matches: Annotated[
        bool | None, typer.Option("--region-matches/--region-differs", help="checklist")
    ] = None,
    entry_active: Annotated[
        bool | None, typer.Option("--entry-active/--entry-inactive", help="checklist")
    ] = None,
    by: By = "",
    purpose: Why = None,
) -> None:
    """Close an alert; `confirmed` needs every checklist answer."""
    from core.alerts import Checklist, close

    answers = (image_matches, region_matches, entry_active)
    checklist = None if answers == (None, None, None) else Checklist(*answers)
    alert = _run(
        lambda pool: close(
            pool, alert_id, disposition, _actor(by, purpose), note=note, checklist=checklist
        )
    )
    typer.echo(f"alert {alert.alert_id} closed: {alert.disposition}")


@alerts_app.command("report")
def alerts_report(
    since: Annotated[datetime, typer.Option(help="from (UTC unless offset)")],
    until: Annotated[datetime, typer.Option(help="to, excluded (UTC unless offset)")],
    report_format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Hit counts per list, reason, state and disposition: no plate text."""
    from core.alerts import report

    if report_format not in ("table", "csv", "json"):
        raise typer.BadParameter("must be table, csv or json", param_hint="--format")
    start, end = _utc(since), _utc(until)
    assert start is not None and end is not None
    rows = [asdict(r) for r in _run(lambda pool: report(pool, start, end))]
    if report_format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    columns = ["hotlist", "reason", "status", "disposition", "historical", "alerts", "reads"]
    if report_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    typer.echo("\t".join(columns))
    for row in rows:
        typer.echo("\t".join("-" if row[c] is None else str(row[c]) for c in columns))


def register(app: typer.Typer) -> None:
    """Add `alpr hotlist` and `alpr alerts …` to the `alpr` application. The
    alert commands join an `alerts` group registered before (the matcher's
    `alpr alerts`), else they make it."""
    app.add_typer(hotlist_app, name="hotlist")
    group = next((g.typer_instance for g in app.registered_groups if g.name == "alerts"), None)
    if group is None:
        app.add_typer(alerts_app, name="alerts")
    else:
        group.registered_commands.extend(alerts_app.registered_commands)
