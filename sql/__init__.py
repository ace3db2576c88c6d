"""SQL as files: numbered migrations and named queries, loaded once.

`migrations/NNNN_name.sql` run in order; a file may come in engine variants
(`NNNN_name.postgres.sql`, `NNNN_name.timescaledb.sql`), of which the runner
applies the one for the database's engine. `queries/*.sql` hold named blocks,
each introduced by a `-- name: NAME` line, read by `load_queries`.

A block names its parameters (`:plate`, `:since::timestamptz`); the loader
turns them into asyncpg's `$1, $2, ...` once, and `Query.bind(plate=...,
since=...)` puts the values in that order, refusing a missing or unknown
name. `::` (a cast), string literals and comments are left alone.

Variants of one statement are written once, as a template: a block with
slots (`{order}`, `{filter}`) that code fills with `fill`, from fragments
(blocks introduced by `-- fragment: NAME`, pieces of statements read with
`load_blocks`) or small fixed texts, then parses with `Query.parse`. Each
filled text is fixed, so a server can prepare and plan it once.
`load_queries` leaves templates and fragments out: they cannot run as they are.
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
_BLOCK_HEADER = re.compile(
    r"^-- (?P<kind>name|fragment): (?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE
)
# What may hold a colon or a brace that is not a parameter or a slot comes
# first in the alternation.
_TOKENS = re.compile(
    r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::"
    r"|:(?P<param>[a-z_][a-z0-9_]*)|\{(?P<slot>[a-z_][a-z0-9_]*)\}"
)
_COMMENT_LINE = re.compile(r"^[ \t]*--[^\n]*\n?", re.MULTILINE)


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
        """Number the named parameters of `source` in order of first use.

        ValueError if `source` still has a template slot.
        """
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match["slot"] is not None:
                raise ValueError(f"template slot {match[0]} is not filled")
            name = match["param"]
            if name is None:
                return match[0]
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_TOKENS.sub(number, source), tuple(names))

    def bind(self, **values: Any) -> tuple[Any, ...]:
        """`(text, *values)` in the order of the placeholders."""
        # On the gateway's every request: the check is a length and lookups.
        try:
            ordered = [values[name] for name in self.params]
        except KeyError:
            ordered = None
        if ordered is None or len(values) != len(self.params):
            missing = [name for name in self.params if name not in values]
            unknown = sorted(set(values) - set(self.params))
            raise TypeError(f"query parameters: missing {missing}, unknown {unknown}")
        return (self.text, *ordered)


def slots(template: str) -> set[str]:
    """The names of the slots of `template`."""
    return {m["slot"] for m in _TOKENS.finditer(template) if m["slot"] is not None}


def fill(template: str, **values: str) -> str:
    """`template` with each slot (`{name}` outside strings and comments)
    replaced by `values[name]`.

    The text made has no whole-line comments, the template's or the values':
    they document the file, not the statement (so a value must not end in a
    comment after code). A slot within a value is left for a later `fill`.
    TypeError names a slot without a value or a value without a slot.
    """
    missing = sorted(slots(template) - set(values))
    unknown = sorted(set(values) - slots(template))
    if missing or unknown:
        raise TypeError(f"template slots: missing {missing}, unknown {unknown}")

    def put(match: re.Match[str]) -> str:
        name = match["slot"]
        return match[0] if name is None else _uncommented(values[name])

    return _TOKENS.sub(put, _uncommented(template))


def _uncommented(text: str) -> str:
    return _COMMENT_LINE.sub("", text).strip()


@cache
def _read_blocks(module: str) -> dict[str, tuple[str, str]]:
    text = resources.files("sql").joinpath("queries", f"{module}.sql").read_text()
    headers = list(_BLOCK_HEADER.finditer(text))
    blocks: dict[str, tuple[str, str]] = {}
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        end = following.start() if following else len(text)
        if header["name"] in blocks:
            raise ValueError(f"queries/{module}.sql: {header['name']} defined twice")
        blocks[header["name"]] = (header["kind"], text[header.end() : end].strip())
    return blocks


def load_blocks(module: str) -> dict[str, str]:
    """The source of every block of `queries/<module>.sql` (statements,
    templates and fragments), by name."""
    return {name: source for name, (_, source) in _read_blocks(module).items()}


@cache
def load_queries(module: str) -> dict[str, Query]:
    """The statements of `queries/<module>.sql` that run as they are (not
    templates, not fragments), parsed, by name."""
    return {
        name: Query.parse(source)
        for name, (kind, source) in _read_blocks(module).items()
        if kind == "name" and not slots(source)
    }
