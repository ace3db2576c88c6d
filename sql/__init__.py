"""SQL as files: numbered migrations and named queries, loaded once.

`migrations/NNNN_name.sql` run in order; a file may come in engine variants
(`NNNN_name.postgres.sql`, `NNNN_name.timescaledb.sql`), of which the runner
applies the one for the database's engine. `queries/*.sql` hold named blocks,
each introduced by a `-- name: NAME` line, read by `load_queries`.

A block names its parameters (`:plate`, `:since::timestamptz`); the loader
turns them into asyncpg's `$1, $2, ...` once, and `Query.bind(plate=...,
since=...)` puts the values in that order, refusing a missing or unknown
name. `::` (a cast), string literals and comments are left alone.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Engine = Literal["postgres", "timescaledb"]
ENGINES: tuple[Engine, ...] = ("postgres", "timescaledb")

_MIGRATION_NAME = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<engine>[a-z]+))?\.sql$"
)
_QUERY_HEADER = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# What may hold a colon that is not a parameter comes first in the alternation.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|:(?P<param>[a-z_][a-z0-9_]*)")


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


@dataclass(frozen=True)
class Query:
    """A named query: its text for asyncpg (`$n` placeholders) and its parameter names.

    Run it as `conn.fetch(*query.bind(name=value, ...))`.
    """

    text: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, source: str) -> Query:
        """Number the named parameters of `source` in order of first use."""
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match["param"]
            if name is None:
                return match[0]
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_TOKENS.sub(number, source), tuple(names))

    def bind(self, **values: Any) -> tuple[Any, ...]:
        """`(text, *values)` in the order of the placeholders."""
        missing = [name for name in self.params if name not in values]
        unknown = sorted(set(values) - set(self.params))
        if missing or unknown:
            raise TypeError(f"query parameters: missing {missing}, unknown {unknown}")
        return (self.text, *(values[name] for name in self.params))


@cache
def load_queries(module: str) -> dict[str, Query]:
    """The named blocks of `queries/<module>.sql`, by name."""
    text = resources.files("sql").joinpath("queries", f"{module}.sql").read_text()
    headers = list(_QUERY_HEADER.finditer(text))
    queries: dict[str, Query] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(text)
        body = text[header.end() : end].strip()
        if header["name"] in queries:
            raise ValueError(f"queries/{module}.sql: {header['name']} defined twice")
        queries[header["name"]] = Query.parse(body)
    return queries
