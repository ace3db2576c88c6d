"""`importHotlistFile`: a list's file sent in the request, imported or previewed.

The file's text (CSV or NDJSON, as `alpr hotlist import` reads) goes to
`core.hotlist_import` unchanged: the same column names, rules, refusals and
audit. With `dryRun` (the default) nothing is kept: the report says what the
import would add, remove and change, and which rows it would refuse and why.
A file is at most the gateway's request size (ALPR_MAX_REQUEST_BYTES); a
larger one is for the command line. Scope `hotlist`; the plates reported
are plate data (audited, purpose rule).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal, cast

import strawberry

from core import hotlist_import
from gateway.context import Context
from schema.errors import InvalidRequest
from schema.filters import check_text

Info = strawberry.Info[Context, None]
MAX_REJECTED_SHOWN = 1000
SUFFIXES = {"csv": ".csv", "ndjson": ".ndjson"}


@strawberry.type(description="A row an import refused, by its line in the file.")
class ImportRejection:
    line: int
    reason: str


@strawberry.type(description="What an import did, or with dryRun would do.")
class HotlistImportReport:
    hotlist: str
    replace: bool
    dry_run: bool
    rows: int
    accepted: int
    added: int
    removed: int
    changed: int
    unchanged: int
    rejected_count: int
    rejected: list[ImportRejection] = strawberry.field(
        description="The first 1000 refused rows, by line."
    )
    added_plates: list[str] = strawberry.field(description="`PLATE REGION` of each.")
    removed_plates: list[str]
    changed_plates: list[str]
    revision: int = strawberry.field(description="The list's revision after; 0 on a dry run.")


def _report(done: hotlist_import.ImportReport, dry_run: bool) -> HotlistImportReport:
    return HotlistImportReport(
        hotlist=done.hotlist,
        replace=done.replace,
        dry_run=dry_run,
        rows=done.rows,
        accepted=done.accepted,
        added=done.added,
        removed=done.removed,
        changed=done.changed,
        unchanged=done.unchanged,
        rejected_count=done.rejected_count,
        rejected=[ImportRejection(line=r.line, reason=r.reason) for r in done.rejected][
            :MAX_REJECTED_SHOWN
        ],
        added_plates=done.added_plates,
        removed_plates=done.removed_plates,
        changed_plates=done.changed_plates,
        revision=done.revision,
    )


def _format(value: str | None) -> Literal["csv", "ndjson"] | None:
    if value is None:
        return None
    if value not in SUFFIXES:
        raise InvalidRequest("format", "must be csv or ndjson")
    return cast(Literal["csv", "ndjson"], value)


@strawberry.type
class UploadMutations:
    @strawberry.mutation
    async def import_hotlist_file(
        self,
        info: Info,
        hotlist: str,
        content: str,
        format: str | None = None,
        replace: bool = False,
        dry_run: bool = True,
        default_reason: str | None = None,
        purpose: str | None = None,
    ) -> HotlistImportReport:
        """Import a file's text into list `hotlist` (scope `hotlist`); with
        `dryRun` (default) report the change without making it. `format`: csv
        or ndjson, else guessed; `replace` removes entries the file lacks."""
        ctx = info.context
        ctx.require_scope("hotlist")
        check_text(content, "content")
        chosen = _format(format)
        actor = ctx.actor(purpose)
        ctx.reader.note_plate_data(0)
        options = hotlist_import.ImportOptions(
            replace=replace,
            file_format=chosen,
            default_reason=default_reason,
            verbose=True,
            dry_run=dry_run,
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{SUFFIXES.get(chosen or '', '')}"
            path.write_text(content, encoding="utf-8")
            done = await hotlist_import.import_file(ctx.state.pool, hotlist, path, options, actor)
        report = _report(done, dry_run)
        ctx.reader.note_plate_data(
            len(report.added_plates) + len(report.removed_plates) + len(report.changed_plates)
        )
        return report
