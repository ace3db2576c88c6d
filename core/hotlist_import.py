"""Importing a hotlist from a file: CSV or NDJSON, gzip or not, any header names.

A `ColumnMap` says which column holds which entry field; the default one
knows common header names, a state's stolen-vehicle extract's field codes
among them (LIC plate, LIS state, LIT plate type, LIY plate expiry year, NIC
record number, ORI agency, OCA agency case number, MKE record type), so such
an extract loads unedited. Columns that are not entry fields are kept in the
entry's `details` (plate type, expiry year, record type, anything else).

Rows are read one at a time and copied in chunks into a temporary table
(memory stays bounded by the chunk and the refused rows' reasons); the
comparison with the list is SQL. Everything runs in ONE transaction with
the list locked: matching sees the list as it was or as the file makes it,
never half. Without `replace` the file adds and changes entries; with it,
entries the file no longer names are removed as well.

Every refused row is reported with its line and reason (bad plate, missing
reason, bad date, duplicate of an earlier line, ...); refused rows do not
stop the import. A `replace` in which no row is accepted is refused as a
whole (InvalidRequest): an empty or unreadable extract must not empty a list.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import asyncpg

from core.db import translated
from core.hotlists import (
    MATCH_MODES,
    Actor,
    Conn,
    MatchMode,
    entry_plate,
    entry_region,
    queries,
    record_change,
)
from core.settings import DEFAULT_BACKFILL_DAYS
from schema.errors import InvalidRequest, NotFound

log = logging.getLogger(__name__)

Format = Literal["csv", "ndjson"]
CHUNK = 10_000
MAX_REPORTED = 100_000  # refused rows kept with their reason; the rest counted
GZIP_MAGIC = b"\x1f\x8b"
# What reading a file may raise: not UTF-8, not CSV, a cut gzip stream, I/O.
UNREADABLE = (UnicodeDecodeError, csv.Error, OSError, EOFError)

# Entry fields a column may fill, and the header names each is known by.
ENTRY_FIELDS: dict[str, tuple[str, ...]] = {
    "plate": ("plate", "plate_number", "license_plate", "licence_plate", "lic", "tag", "vrm"),
    "region": ("region", "state", "plate_state", "lis", "state_code", "province"),
    "reason": ("reason", "reason_code", "category"),
    "case_number": ("case_number", "case", "oca", "agency_case_number"),
    "agency": ("agency", "ori", "agency_name"),
    "record_number": ("record_number", "nic", "ncic_number", "record_id"),
    "notes": ("notes", "note", "remarks", "mis"),
    "valid_from": ("valid_from", "start", "start_date"),
    "valid_until": ("valid_until", "expires", "expiry", "end_date"),
    "match_mode": ("match_mode", "mode"),
    "max_cost": ("max_cost",),
}
# Columns kept in `details`, under these names when known.
DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "plate_type": ("plate_type", "lit"),
    "plate_expiry_year": ("plate_expiry_year", "liy", "expiry_year"),
    "record_type": ("record_type", "record_type_code", "mke"),
}
STAGING_COLUMNS = (
    "line",
    "plate",
    "region",
    "reason",
    "case_number",
    "agency",
    "record_number",
    "notes",
    "details",
    "match_mode",
    "max_cost",
    "valid_from",
    "valid_until",
)


def _key(header: str) -> str:
    return header.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class ColumnMap:
    """Field name -> header name, given by the operator (`plate=LIC,region=LIS`);
    fields not given are looked for under their known names. A field that is
    not an entry field names a `details` key."""

    given: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> ColumnMap:
        """`field=HEADER,...`; InvalidRequest("map") when malformed."""
        given: dict[str, str] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            name, sep, header = part.partition("=")
            if not sep or not name.strip() or not header.strip():
                raise InvalidRequest("map", f"expected field=HEADER, got {part.strip()!r}")
            given[_key(name)] = header.strip()
        return cls(given)

    def resolve(self, headers: Iterable[str]) -> dict[str, str]:
        """header -> field (entry field or details key) for these headers.

        InvalidRequest("map") when a given header is missing or no column holds the plate.
        """
        present = {_key(h): h for h in headers}
        chosen: dict[str, str] = {}
        for name, header in self.given.items():
            if _key(header) not in present:
                raise InvalidRequest("map", f"no column {header!r} in the file")
            chosen[present[_key(header)]] = name
        for name, aliases in {**ENTRY_FIELDS, **DETAIL_FIELDS}.items():
            if name in chosen.values():
                continue
            found = next((present[a] for a in aliases if a in present), None)
            if found is not None and found not in chosen:
                chosen[found] = name
        if "plate" not in chosen.values():
            raise InvalidRequest("map", "no column holds the plate: give --map plate=HEADER")
        for header in present.values():
            chosen.setdefault(header, header)
        return chosen


class RowProblem(ValueError):
    """Why one row cannot be an entry."""


def _text(value: Any, limit: int = 2000) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if "\x00" in text:
        raise RowProblem("a NUL character in a value")
    if len(text) > limit:
        raise RowProblem(f"a value longer than {limit} characters")
    return text or None


def parse_moment(value: Any, name: str) -> datetime | None:
    """ISO 8601 date or time (UTC unless it names an offset), or YYYYMMDD."""
    text = _text(value)
    if text is None:
        return None
    try:
        if len(text) == 8 and text.isdigit():
            moment = datetime.strptime(text, "%Y%m%d")
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowProblem(f"bad date in {name}: {text[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RowRules:
    """What applies to every row: the list's mode, and the reason of rows without one."""

    list_mode: MatchMode
    default_reason: str | None
    now: datetime


def staged_row(
    line: int, row: dict[str, Any], columns: dict[str, str], rules: RowRules
) -> tuple[Any, ...]:
    """The staging record of one file row; RowProblem says why it has none."""
    fields: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for header, value in row.items():
        name = columns.get(header, header)
        if name in ENTRY_FIELDS:
            fields[name] = value
        elif value not in (None, ""):
            details[name] = value
    mode = _text(fields.get("match_mode"))
    if mode is not None and mode.lower() not in MATCH_MODES:
        raise RowProblem(f"unknown match mode {mode[:20]!r}")
    own_mode: MatchMode | None = mode.lower() if mode else None  # type: ignore[assignment]
    plate_text = _text(fields.get("plate"))
    if plate_text is None:
        raise RowProblem("missing plate")
    try:
        plate = entry_plate(plate_text, own_mode or rules.list_mode)
        region = entry_region(_text(fields.get("region")))
    except InvalidRequest as exc:
        raise RowProblem(f"bad {exc.argument}: {exc.reason}") from None
    reason = _text(fields.get("reason"), 200) or rules.default_reason
    if reason is None:
        raise RowProblem("missing reason")
    valid_from = parse_moment(fields.get("valid_from"), "valid_from")
    valid_until = parse_moment(fields.get("valid_until"), "valid_until")
    if valid_until is not None and valid_until <= (valid_from or rules.now):
        raise RowProblem("valid_until is not after valid_from (or now)")
    return (
        line,
        plate,
        region,
        reason,
        _text(fields.get("case_number"), 200),
        _text(fields.get("agency"), 200),
        _text(fields.get("record_number"), 200),
        _text(fields.get("notes")),
        json.dumps(details),
        own_mode,
        _cost(fields.get("max_cost")),
        valid_from,
        valid_until,
    )


def _cost(value: Any) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        cost = float(text)
    except ValueError:
        raise RowProblem(f"bad max_cost {text[:20]!r}") from None
    if not 0 < cost <= 3:
        raise RowProblem("max_cost must be above 0 and at most 3")
    return cost


def open_text(path: Path) -> io.TextIOWrapper:
    """The file as text (UTF-8, a BOM skipped), gunzipped when it starts with gzip's magic."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == GZIP_MAGIC
    raw: IO[bytes] = gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def guess_format(path: Path, text: io.TextIOWrapper) -> Format:
    """By the name (.csv, .ndjson, .jsonl, .json, under any .gz), else by the
    first character ({ for NDJSON). Reads nothing it does not give back."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] == ".csv":
        return "csv"
    if suffixes and suffixes[-1] in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    peek = getattr(text.buffer, "peek", None)
    head: bytes = peek(64) if peek is not None else b""
    return "ndjson" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


@dataclass(frozen=True)
class FileRow:
    """One row of the file: its line, its values by header, or why it is unreadable."""

    line: int
    values: dict[str, Any]
    problem: str | None = None


def csv_rows(text: io.TextIOWrapper) -> tuple[list[str], Iterator[FileRow]]:
    """The header and the rows of a CSV file (line numbers count physical lines)."""
    reader = csv.reader(text)
    header = next(reader, None)
    if not header:
        raise InvalidRequest("file", "the CSV file has no header line")

    def rows() -> Iterator[FileRow]:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                yield FileRow(
                    reader.line_num, {}, f"{len(values)} fields, the header has {len(header)}"
                )
                continue
            yield FileRow(reader.line_num, dict(zip(header, values, strict=True)))

    return header, rows()


def ndjson_rows(text: io.TextIOWrapper) -> tuple[list[str], Iterator[FileRow]]:
    """Rows of an NDJSON file; its headers are the keys seen in the first 100 objects
    (a key met later still counts: unmapped, it goes to `details`)."""
    lines = enumerate(text, start=1)
    first: list[tuple[int, str]] = []
    headers: dict[str, None] = {}
    for number, line in lines:
        if line.strip():
            first.append((number, line))
            try:
                headers.update(dict.fromkeys(json.loads(line)))
            except (ValueError, TypeError, AttributeError):
                pass
        if len(first) >= 100:
            break

    def rows() -> Iterator[FileRow]:
        for number, line in [*first, *lines]:
            if not line.strip():
                continue
            try:
                values = json.loads(line)
            except ValueError:
                yield FileRow(number, {}, "not JSON")
                continue
            if not isinstance(values, dict):
                yield FileRow(number, {}, "not a JSON object")
                continue
            yield FileRow(number, values)

    return list(headers), rows()


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: counts, the refused rows, and with `verbose` the
    plates added, removed and changed (`PLATE REGION`)."""

    hotlist: str
    replace: bool
    rows: int = 0
    accepted: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    rejected_count: int = 0
    revision: int = 0
    added_plates: list[str] = field(default_factory=list)
    removed_plates: list[str] = field(default_factory=list)
    changed_plates: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.accepted - self.added - self.changed

    def refuse(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED:
            self.rejected.append(Rejected(line, reason))


@dataclass(frozen=True)
class ImportOptions:
    """How to read the file and what to do with it."""

    replace: bool = False
    columns: ColumnMap = field(default_factory=ColumnMap)
    file_format: Format | None = None
    default_reason: str | None = None
    verbose: bool = False
    backfill_days: int = DEFAULT_BACKFILL_DAYS
    dry_run: bool = False  # report what the import would do, then roll it back


def read_file(
    path: Path, file_format: Format | None
) -> tuple[io.TextIOWrapper, list[str], Iterator[FileRow], Format]:
    """The open text, header, rows and format of `path`."""
    text = open_text(path)
    try:
        chosen = file_format or guess_format(path, text)
        header, rows = csv_rows(text) if chosen == "csv" else ndjson_rows(text)
    except BaseException:
        text.close()
        raise
    return text, header, rows, chosen


class _Preview(Exception):
    """Ends a dry run's transaction (rolled back) with its report."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__("dry run")
        self.report = report


@translated
async def import_file(
    pool: asyncpg.Pool[Any], hotlist: str, path: Path, options: ImportOptions, actor: Actor
) -> ImportReport:
    """Import `path` into the list `hotlist` (see the module's contract)."""
    try:
        text, header, rows, chosen = read_file(path, options.file_format)
    except UNREADABLE as exc:
        raise InvalidRequest("file", f"unreadable: {type(exc).__name__}: {exc}") from None
    with text:
        columns = options.columns.resolve(header)
        try:
            async with pool.acquire() as conn, conn.transaction():
                hotlist_id, report = await _import(conn, hotlist, rows, columns, options, actor)
                if options.dry_run:
                    raise _Preview(report)  # leaving the block by it rolls back
                audited = {
                    "hotlist": hotlist,
                    "file": path.name,
                    "format": chosen,
                    "replace": options.replace,
                    "added": report.added,
                    "removed": report.removed,
                    "changed": report.changed,
                    "rejected": report.rejected_count,
                }
                report.revision = await record_change(
                    conn,
                    hotlist_id,
                    actor,
                    "hotlist.import",
                    audited,
                    refreshed=True,
                    result_count=report.accepted,
                )
        except _Preview as preview:
            return preview.report
    log.info(
        "hotlist %s imported by %s: %d added, %d removed, %d changed, %d refused",
        hotlist,
        actor.name,
        report.added,
        report.removed,
        report.changed,
        report.rejected_count,
    )
    return report


async def _import(
    conn: Conn,
    hotlist: str,
    rows: Iterator[FileRow],
    columns: dict[str, str],
    options: ImportOptions,
    actor: Actor,
) -> tuple[int, ImportReport]:
    """Stage, check and apply the rows; returns the list's id and the report."""
    q = queries()
    locked = await conn.fetchrow(*q["lock_hotlist"].bind(name=hotlist))
    if locked is None:
        raise NotFound(f"no hotlist named {hotlist!r}")
    report = ImportReport(hotlist, options.replace)
    rules = RowRules(locked["match_mode"], options.default_reason, datetime.now(UTC))
    await conn.execute(*q["import_memory"].bind())
    await conn.execute(*q["import_staging"].bind())
    await _stage(conn, rows, columns, rules, report)
    await conn.execute(*q["import_analyze"].bind())
    for row in await conn.fetch(*q["import_duplicates"].bind()):
        report.accepted -= 1
        report.refuse(row["line"], f"duplicate of line {row['first_line']} (same plate and region)")
    report.rejected.sort(key=lambda r: r.line)
    if options.replace and report.accepted == 0:
        raise InvalidRequest("file", "no row was accepted: a replace would empty the list")
    await _apply(conn, locked["hotlist_id"], options, actor, report)
    return locked["hotlist_id"], report


async def _stage(
    conn: Conn,
    rows: Iterator[FileRow],
    columns: dict[str, str],
    rules: RowRules,
    report: ImportReport,
) -> None:
    chunk: list[tuple[Any, ...]] = []
    for row in _readable(rows, report):
        report.rows += 1
        if row.problem is not None:
            report.refuse(row.line, row.problem)
            continue
        try:
            chunk.append(staged_row(row.line, row.values, columns, rules))
        except RowProblem as exc:
            report.refuse(row.line, str(exc))
            continue
        if len(chunk) >= CHUNK:
            await _copy(conn, chunk)
            report.accepted += len(chunk)
            chunk = []
    if chunk:
        await _copy(conn, chunk)
        report.accepted += len(chunk)


def _readable(rows: Iterator[FileRow], report: ImportReport) -> Iterator[FileRow]:
    """`rows`, a file that cannot be read on (not UTF-8, not CSV, a cut gzip
    stream) failing the whole import: InvalidRequest("file")."""
    try:
        yield from rows
    except UNREADABLE as exc:
        where = f"after row {report.rows}"
        raise InvalidRequest("file", f"unreadable {where}: {type(exc).__name__}: {exc}") from None


async def _copy(conn: Conn, chunk: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table("hotlist_staging", records=chunk, columns=STAGING_COLUMNS)


async def _apply(
    conn: Conn,
    hotlist_id: int,
    options: ImportOptions,
    actor: Actor,
    report: ImportReport,
) -> None:
    """Remove (with replace), change, then add: in this order the unique
    current entry per plate and region holds at every statement."""
    q = queries()
    common = {"hotlist_id": hotlist_id, "verbose": options.verbose}
    if options.replace:
        gone: Any = await conn.fetchrow(*q["import_remove"].bind(**common, by=actor.name))
        report.removed, report.removed_plates = gone["n"], list(gone["plates"] or [])
    changed: Any = await conn.fetchrow(*q["import_change"].bind(**common))
    report.changed, report.changed_plates = changed["n"], list(changed["plates"] or [])
    added: Any = await conn.fetchrow(
        *q["import_add"].bind(**common, by=actor.name, days=options.backfill_days)
    )
    report.added, report.added_plates = added["n"], list(added["plates"] or [])
