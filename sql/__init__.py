"""SQL as files: numbered migrations and named queries, loaded once.

`migrations/NNNN_name.sql` run in order; a file may come in engine variants
(`NNNN_name.postgres.sql`, `NNNN_name.timescaledb.sql`), of which the runner
applies the one for the database's engine. `queries/*.sql` hold named blocks,
each introduced by a `-- name: NAME` line, read by `load_queries`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Engine = Literal["postgres", "timescaledb"]
ENGINES: tuple[Engine, ...] = ("postgres", "timescaledb")

_MIGRATION_NAME = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<engine>[a-z]+))?\.sql$"
)
_QUERY_HEADER = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    """One migration file, ready to apply."""

    version: int
    name: str
    engine: Engine | None
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations(engine: Engine) -> list[Migration]:
    """The migrations for `engine`, in version order, one per version."""
    chosen: dict[int, Migration] = {}
    for entry in resources.files("sql").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            continue
        variant = match["engine"]
        if variant is not None and variant not in ENGINES:
            raise ValueError(f"{entry.name}: unknown engine {variant!r}")
        if variant not in (None, engine):
            continue
        migration = Migration(int(match["version"]), match["name"], variant, entry.read_text())
        if migration.version in chosen:
            raise ValueError(f"two migrations claim version {migration.version}")
        chosen[migration.version] = migration
    return [chosen[v] for v in sorted(chosen)]


@cache
def load_queries(module: str) -> dict[str, str]:
    """The named blocks of `queries/<module>.sql`, by name."""
    text = resources.files("sql").joinpath("queries", f"{module}.sql").read_text()
    headers = list(_QUERY_HEADER.finditer(text))
    queries: dict[str, str] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(text)
        body = text[header.end() : end].strip()
        if header["name"] in queries:
            raise ValueError(f"queries/{module}.sql: {header['name']} defined twice")
        queries[header["name"]] = body
    return queries
