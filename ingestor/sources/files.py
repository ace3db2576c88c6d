"""Files as a source: `alpr import` of NDJSON, JSON arrays and CSV, gzip or not.

Every record goes through the pipeline every Kafka message goes through
(`ingestor.pipeline`: decode and validate, batch, write, one batch at a
time while the next is read). Records that cannot be stored are written to
a rejects file (NDJSON: where, why, and the record as it was), never dropped
silently; the reasons are those Kafka's dead letters carry.

Resumable: the acknowledgement of each committed batch is a checkpoint file
beside the input, recording how many records are done, with the input's
size and mtime; a rerun skips those (and a finished file entirely), so an
interrupted import goes on where it stopped. Writes are idempotent anyway
(`ON CONFLICT DO NOTHING`), so a record written just before a crash and
again after it is stored once.

Formats: `.ndjson`/`.jsonl` one JSON object per line; `.json` a JSON array
(or NDJSON, sniffed); `.csv` a header with `plate_events` column names
(empty cells are NULL). A `.gz` suffix means gzip. Nothing is retried: an
outage stops the import, and running it again resumes it.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import IO, Any, Final

import asyncpg
import orjson

from ingestor import metrics
from ingestor.pipeline.batch import Batcher
from ingestor.pipeline.decode import Decode
from ingestor.pipeline.message import DeadLetter, Message, Parsed
from ingestor.pipeline.step import feed
from ingestor.pipeline.write import Write, Written, store
from ingestor.writer import Writer
from schema.errors import InvalidEvent
from schema.events import COLUMNS, CaptureWindow

log = logging.getLogger(__name__)

SOURCE: Final = "file"
Progress = Callable[[int, int, str], None]  # done, total, note
CHECKPOINT_SUFFIX: Final = ".alpr-import.json"
REJECTS_SUFFIX: Final = ".rejects.ndjson"
_PARTITION: Final = 0  # a file is one partition; a record's offset is its 0-based number


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


# Each reader yields (position, value): the line or item number a person
# finds the record at, and the record as `Message.value` takes it.
Records = Iterator[tuple[int, bytes | Parsed]]


def _ndjson(path: Path) -> Records:
    with _open(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                # Without its line end, a line is what Kafka or HTTP would carry,
                # and a broken one gets the same reason.
                yield number, line.rstrip(b"\r\n")


def _array(path: Path) -> Records:
    # A JSON array must be parsed whole; NDJSON is the format for huge files.
    with _open(path) as f:
        items = orjson.loads(f.read())
    if not isinstance(items, list):
        raise InvalidEvent("file", "a .json file must hold an array of events or NDJSON")
    for index, item in enumerate(items, start=1):
        yield index, Parsed(item)


def _csv(path: Path) -> Records:
    with _open(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        missing = {"event_id", "captured_at", "camera_id", "track_id", "plate_text"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise InvalidEvent("header", f"CSV lacks columns {sorted(missing)}")
        for row in reader:
            cleaned = {k: (v if v != "" else None) for k, v in row.items() if k in _CSV_COLUMNS}
            yield reader.line_num, Parsed(cleaned)


_CSV_COLUMNS: Final = frozenset(COLUMNS)
_READERS: Final = {"ndjson": _ndjson, "array": _array, "csv": _csv}


def messages(path: Path, skip: int = 0) -> Iterator[Message]:
    """The records of `path` in file order, as messages, after the first `skip`."""
    name = path.name
    for offset, (position, value) in enumerate(_READERS[_kind(path)](path)):
        if offset >= skip:
            yield Message(value, topic=name, partition=_PARTITION, offset=offset, position=position)


def count_records(path: Path) -> int:
    """How many records `path` holds (one cheap pass), for progress and ETA."""
    kind = _kind(path)
    if kind == "array":
        return sum(1 for _ in _array(path))
    with _open(path) as f:
        lines = sum(1 for line in f if line.strip())
    return max(0, lines - 1) if kind == "csv" else lines


class _RejectsFile:
    """Where a file's dead letters go: the rejects file, opened on the first one
    (appending when resuming)."""

    def __init__(self, path: Path, append: bool) -> None:
        self.path = path
        self.mode = "ab" if append else "wb"
        self.file: IO[bytes] | None = None
        self.count = 0

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        # Decoding's dead letters come first in a batch: put them in file order.
        for letter in sorted(letters, key=lambda d: d.message.offset):
            self.add(letter)

    def add(self, letter: DeadLetter) -> None:
        if self.file is None:
            self.file = self.path.open(self.mode)
        message = letter.message
        value = message.value
        record = (
            value.value if isinstance(value, Parsed) else (value or b"").decode(errors="replace")
        )
        line = {
            "file": message.topic,
            "position": message.position,
            "reason": letter.reason,
            "record": record,
        }
        self.file.write(orjson.dumps(line, default=str) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class _Checkpointing:
    """The acknowledgement of each committed batch: counts, checkpoint, progress."""

    def __init__(self, report: ImportReport, checkpoint: _Checkpoint, note: Progress) -> None:
        self.report = report
        self.checkpoint = checkpoint
        self.note = note

    async def __call__(self, written: Written) -> None:
        report, name = self.report, self.report.path.name
        report.stored += written.result.stored
        report.duplicates += written.result.duplicates
        self.checkpoint.done = written.batch.next_offsets[(name, _PARTITION)]
        self.checkpoint.save()
        self.note(self.checkpoint.done, report.total, name)
        log.debug("import: %s up to record %d written", name, self.checkpoint.done)


async def import_file(
    pool: asyncpg.Pool[Any],
    path: Path,
    *,
    batch_size: int = 5000,
    naive_timezone: tzinfo | None = None,
    window: CaptureWindow | None = None,
    rejects_path: Path | None = None,
    restart: bool = False,
    progress: Progress | None = None,
    stats: metrics.Stats | None = None,
) -> ImportReport:
    """Import one file; resumes from its checkpoint unless `restart`.

    `naive_timezone` and `window` are the validation's (the settings' in `alpr
    import`; without a window any capture time is taken).
    """
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
    rejects = _RejectsFile(
        rejects_path or path.with_name(path.name + REJECTS_SUFFIX), checkpoint.done > 0
    )
    report.rejects_path = rejects.path
    acknowledge = _Checkpointing(report, checkpoint, progress or (lambda *_: None))
    write = Write(
        functools.partial(store, pool, Writer()),
        rejects,
        acknowledge,
        stats or metrics.Stats(),
        SOURCE,
    )
    try:
        await feed(
            Decode(Batcher(write, batch_size), naive_timezone, window),
            messages(path, checkpoint.done),
        )
        checkpoint.finished = True
        checkpoint.save()
    finally:
        write.cancel()  # the file failed to read: stop the write in flight
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


def reject_reasons(rejects_path: Path) -> Sequence[str]:
    """The reasons in a rejects file, in order (for tests and summaries)."""
    with rejects_path.open("rb") as f:
        return [orjson.loads(line)["reason"] for line in f if line.strip()]
