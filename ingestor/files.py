"""Files as a source: `alpr import` of NDJSON, JSON arrays and CSV, gzip or not.

Every record goes the way every Kafka message goes: `schema.events`
validation, then `ingestor.writer` in batches (rows the database refuses are
isolated by `write_isolating`). Records that cannot be stored are written to
a rejects file (NDJSON: where, why, and the record as it was), never dropped
silently.

Resumable: after each committed batch a checkpoint file beside the input
records how many records are done, with the input's size and mtime; a rerun
skips those (and a finished file entirely), so an interrupted import goes on
where it stopped. Writes are idempotent anyway (`ON CONFLICT DO NOTHING`),
so a record written just before a crash and again after it is stored once.

Formats: `.ndjson`/`.jsonl` one JSON object per line; `.json` a JSON array
(or NDJSON, sniffed); `.csv` a header with `plate_events` column names
(empty cells are NULL). A `.gz` suffix means gzip.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any, Final

import asyncpg
import orjson

from ingestor.writer import IsolatedWrite, Writer
from schema.errors import InvalidEvent
from schema.events import COLUMNS, PlateEvent, decode_event, event_from_dict

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # done, total, note
CHECKPOINT_SUFFIX: Final = ".alpr-import.json"
REJECTS_SUFFIX: Final = ".rejects.ndjson"


@dataclass
class ImportReport:
    """What one file's import did."""

    path: Path
    total: int = 0
    skipped: int = 0  # done by an earlier, interrupted run
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None

    @property
    def rate(self) -> float:
        handled = self.total - self.skipped
        return handled / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Record:
    """One raw record and where it came from (1-based line or array index)."""

    position: int
    raw: Any  # bytes (a JSON line), dict (array item or CSV row)


@dataclass
class _Checkpoint:
    """Progress of one input file, stored beside it."""

    path: Path
    size: int
    mtime_ns: int
    done: int = 0
    finished: bool = False

    @classmethod
    def load(cls, checkpoint: Path, source: Path) -> _Checkpoint:
        stat = source.stat()
        fresh = cls(checkpoint, stat.st_size, stat.st_mtime_ns)
        if not checkpoint.exists():
            return fresh
        data = json.loads(checkpoint.read_text())
        if (data.get("size"), data.get("mtime_ns")) != (stat.st_size, stat.st_mtime_ns):
            log.warning("import: %s changed since its checkpoint; starting over", source)
            return fresh
        return cls(checkpoint, stat.st_size, stat.st_mtime_ns, data["done"], data["finished"])

    def save(self) -> None:
        data = {
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "done": self.done,
            "finished": self.finished,
        }
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps(data))
        partial.replace(self.path)  # atomic: a crash leaves the old or the new one


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last == ".csv":
        return "csv"
    if last == ".json":
        with _open(path) as f:
            head = f.read(4096).lstrip()
        return "array" if head.startswith(b"[") else "ndjson"
    return "ndjson"


def _ndjson(path: Path) -> Iterator[Record]:
    with _open(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield Record(number, line)


def _array(path: Path) -> Iterator[Record]:
    # A JSON array must be parsed whole; NDJSON is the format for huge files.
    with _open(path) as f:
        items = orjson.loads(f.read())
    if not isinstance(items, list):
        raise InvalidEvent("file", "a .json file must hold an array of events or NDJSON")
    for index, item in enumerate(items, start=1):
        yield Record(index, item)


def _csv(path: Path) -> Iterator[Record]:
    with _open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        missing = {"event_id", "captured_at", "camera_id", "track_id", "plate_text"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise InvalidEvent("header", f"CSV lacks columns {sorted(missing)}")
        for row in reader:
            cleaned = {k: (v if v != "" else None) for k, v in row.items() if k in _CSV_COLUMNS}
            yield Record(reader.line_num, cleaned)


_CSV_COLUMNS: Final = frozenset(COLUMNS)
_READERS: Final = {"ndjson": _ndjson, "array": _array, "csv": _csv}


def records(path: Path) -> Iterator[Record]:
    """The raw records of `path`, in file order."""
    return _READERS[_kind(path)](path)


def count_records(path: Path) -> int:
    """How many records `path` holds (one cheap pass), for progress and ETA."""
    kind = _kind(path)
    if kind == "array":
        return sum(1 for _ in _array(path))
    with _open(path) as f:
        lines = sum(1 for line in f if line.strip())
    return max(0, lines - 1) if kind == "csv" else lines


def _validate(record: Record, zone: tzinfo | None) -> PlateEvent:
    if isinstance(record.raw, bytes):
        return decode_event(record.raw, naive_timezone=zone)
    return event_from_dict(record.raw, naive_timezone=zone)


class _Rejects:
    """The rejects file, opened on the first reject (appending when resuming)."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path = path
        self.mode = "ab" if append else "wb"
        self.file: IO[bytes] | None = None
        self.count = 0

    def add(self, source: Path, position: int, reason: str, raw: Any) -> None:
        if self.file is None:
            self.file = self.path.open(self.mode)
        record = raw.decode(errors="replace").rstrip("\n") if isinstance(raw, bytes) else raw
        line = {"file": source.name, "position": position, "reason": reason, "record": record}
        self.file.write(orjson.dumps(line, default=str) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class _Batch:
    events: list[PlateEvent] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    raws: list[Any] = field(default_factory=list)
    last_index: int = 0  # records of the file handled once this batch is written


async def _write(pool: asyncpg.Pool[Any], writer: Writer, batch: _Batch) -> IsolatedWrite:
    async with pool.acquire() as conn:
        return await writer.write_isolating(conn, batch.events)


def _batches(
    items: Iterator[Record],
    skip: int,
    size: int,
    zone: tzinfo | None,
    reject: Callable[[int, str, Any], None],
) -> Iterator[_Batch]:
    batch = _Batch()
    for index, record in enumerate(items, start=1):
        if index <= skip:
            continue
        try:
            event = _validate(record, zone)
        except InvalidEvent as exc:
            reject(record.position, str(exc), record.raw)
        else:
            batch.events.append(event)
            batch.positions.append(record.position)
            batch.raws.append(record.raw)
        batch.last_index = index
        if len(batch.events) >= size:
            yield batch
            batch = _Batch()
    if batch.last_index:
        yield batch


def _account(
    report: ImportReport, batch: _Batch, outcome: Any, rejects: _Rejects, path: Path
) -> None:
    report.stored += outcome.result.stored
    report.duplicates += outcome.result.duplicates
    if outcome.rejected:
        where = {
            id(e): (p, r) for e, p, r in zip(batch.events, batch.positions, batch.raws, strict=True)
        }
        for refused in outcome.rejected:
            position, raw = where[id(refused.event)]
            rejects.add(path, position, refused.reason, raw)


async def import_file(
    pool: asyncpg.Pool[Any],
    path: Path,
    *,
    batch_size: int = 5000,
    naive_timezone: tzinfo | None = None,
    rejects_path: Path | None = None,
    restart: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one file; resumes from its checkpoint unless `restart`."""
    started = time.perf_counter()
    report = ImportReport(path)
    checkpoint = _Checkpoint.load(path.with_name(path.name + CHECKPOINT_SUFFIX), path)
    if restart:
        checkpoint.done, checkpoint.finished = 0, False
    report.total = count_records(path)
    report.skipped = checkpoint.done
    if checkpoint.finished:
        log.info("import: %s was imported completely before; skipped", path.name)
        report.seconds = time.perf_counter() - started
        return report
    rejects = _Rejects(
        rejects_path or path.with_name(path.name + REJECTS_SUFFIX), checkpoint.done > 0
    )
    report.rejects_path = rejects.path
    note = progress or (lambda *_: None)

    def reject(position: int, reason: str, raw: Any) -> None:
        rejects.add(path, position, reason, raw)

    writer = Writer()
    pending: tuple[_Batch, asyncio.Task[IsolatedWrite]] | None = None
    try:
        for batch in _batches(records(path), checkpoint.done, batch_size, naive_timezone, reject):
            # Validate the next batch while the previous one is being written.
            if pending is not None:
                await _finish(pending, report, rejects, path, checkpoint, note)
                pending = None
            pending = (batch, asyncio.create_task(_write(pool, writer, batch)))
        if pending is not None:
            await _finish(pending, report, rejects, path, checkpoint, note)
            pending = None
        checkpoint.finished = True
        checkpoint.save()
    finally:
        if pending is not None and not pending[1].done():
            pending[1].cancel()  # the file failed to read: stop the write in flight
        rejects.close()
    report.rejected = rejects.count
    report.seconds = time.perf_counter() - started
    log.info(
        "import: %s: %d stored, %d duplicates, %d rejected, %d skipped (resumed) in %.1fs",
        path.name,
        report.stored,
        report.duplicates,
        report.rejected,
        report.skipped,
        report.seconds,
    )
    return report


async def _finish(
    pending: tuple[_Batch, asyncio.Task[IsolatedWrite]],
    report: ImportReport,
    rejects: _Rejects,
    path: Path,
    checkpoint: _Checkpoint,
    note: Progress,
) -> None:
    batch, task = pending
    outcome = await task
    _account(report, batch, outcome, rejects, path)
    checkpoint.done = batch.last_index
    checkpoint.save()
    note(batch.last_index, report.total, path.name)
    log.debug("import: %s up to record %d written", path.name, batch.last_index)


def reject_reasons(rejects_path: Path) -> Sequence[str]:
    """The reasons in a rejects file, in order (for tests and summaries)."""
    with rejects_path.open("rb") as f:
        return [orjson.loads(line)["reason"] for line in f if line.strip()]
