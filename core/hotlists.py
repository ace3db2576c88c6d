"""Hotlists: the watch lists reads are matched against, their entries and webhooks.

`alpr hotlist`, the gateway's GraphQL mutations and its `/hotlists` routes
all call these functions. Every change runs in one transaction that also
bumps the list's revision, notifies `alpr_hotlists` (the matcher reloads the
list's wildcard and fuzzy entries; exact entries are looked up per batch),
writes an audit record naming who (`Actor`) and why, and, for entries added,
asks for the search of past reads (`hotlist_backfills`). Nothing is deleted:
a list or an entry removed keeps its row, since alerts name it.

Entries are stored as reads are: an exact or fuzzy entry's plate normalized
by `schema.plates.normalize_plate`, a wildcard entry's by
`schema.plate_match.parse_wildcard`. A webhook's secret is written here and
never read back, returned, logged or audited.

Failures: `InvalidRequest` (argument named) for input the database would
refuse or that breaks a rule here (a name taken, a second active entry for a
plate and region, a pattern on a list that does not match by wildcard);
`NotFound` for a list or entry that does not exist (or was removed, for
changes); `StorageError` for the database.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal, TypeAlias

import asyncpg
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from core.db import translated
from core.settings import DEFAULT_BACKFILL_DAYS
from schema.errors import InvalidRequest, NotFound
from schema.filters import check_text
from schema.plate_match import MAX_QUERY_LENGTH, MIN_FUZZY_LENGTH, parse_wildcard
from schema.plates import normalize_plate
from sql import Query, fill, load_blocks

log = logging.getLogger(__name__)

Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

MatchMode = Literal["exact", "wildcard", "fuzzy"]
MATCH_MODES: tuple[MatchMode, ...] = ("exact", "wildcard", "fuzzy")
MAX_ENTRY_PAGE = 500
MIN_SECRET = 16
HOTLIST_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"

MAX_ID = 2**63 - 1  # ids are BIGINT
# GraphQL shows max_age in whole seconds as an Int (32 bits): about 68 years.
MAX_AGE = timedelta(seconds=2**31 - 1)


def storable(text: str) -> str:
    """`text` unchanged when PostgreSQL can store it: ValueError (for a
    model's field) for a NUL character or a lone surrogate (`check_text`)."""
    try:
        return check_text(text, "text")
    except InvalidRequest as exc:
        raise ValueError(exc.reason) from None


def as_real(cost: float) -> float:
    """`cost` as the REAL column will hold it: a positive value too small for
    single precision would be stored as 0, which the column refuses."""
    stored: float = struct.unpack("f", struct.pack("f", cost))[0]
    if stored <= 0:
        raise ValueError("must be greater than 0 (too small to store)")
    return stored


def storable_details(details: dict[str, Any]) -> dict[str, Any]:
    """`details` when JSONB can hold it: ValueError for NaN or infinity (not
    JSON) or a NUL character in a key or value."""
    try:
        text = json.dumps(details, allow_nan=False)
    except ValueError:
        raise ValueError("numbers must be finite") from None
    if "\\u0000" in text:
        raise ValueError("must not contain NUL characters")
    storable(text)
    return details


Stored = AfterValidator(storable)
Details = Annotated[dict[str, Any], AfterValidator(storable_details)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), Stored
]
Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Stored
]
Cost = Annotated[float, Field(gt=0, le=3), AfterValidator(as_real)]
Ids = list[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), Stored]
]


@dataclass(frozen=True)
class Actor:
    """Who makes a change and why: `name` is recorded on the rows (added_by,
    created_by), all of it in the audit record."""

    name: str
    key_id: str | None = None
    client: str | None = None
    purpose: str | None = None


def _aware(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and moment.utcoffset() is None:
            raise ValueError("times need a UTC offset")


def _check_window(valid_from: datetime | None, valid_until: datetime | None) -> None:
    """ValueError for a validity without time zones, or ending before it starts."""
    _aware(valid_from, valid_until)
    if valid_from and valid_until and valid_from >= valid_until:
        raise ValueError("valid_from must be before valid_until")


def _check_age(max_age: timedelta | None) -> None:
    if max_age is not None and max_age <= timedelta(0):
        raise ValueError("max_age must be positive")
    if max_age is not None and max_age > MAX_AGE:
        raise ValueError(f"max_age must be at most {MAX_AGE.total_seconds():.0f} seconds")


class HotlistSpec(BaseModel):
    """A list to create. Both scope lists empty: every camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, pattern=HOTLIST_NAME), Stored]
    description: Text | None = None
    priority: Annotated[int, Field(ge=0, le=100)] = 50
    match_mode: MatchMode = "exact"
    max_cost: Cost = 1.0
    site_ids: Ids = []
    camera_ids: Ids = []
    max_age: timedelta | None = None
    source: Short = "manual"

    @model_validator(mode="after")
    def _positive_age(self) -> HotlistSpec:
        _check_age(self.max_age)
        return self


class HotlistChanges(BaseModel):
    """Fields of a list to change; None keeps a field, `clear_max_age` makes
    the list never stale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Text | None = None
    priority: Annotated[int, Field(ge=0, le=100)] | None = None
    match_mode: MatchMode | None = None
    max_cost: Cost | None = None
    site_ids: Ids | None = None
    camera_ids: Ids | None = None
    max_age: timedelta | None = None
    clear_max_age: bool = False
    source: Short | None = None

    @model_validator(mode="after")
    def _positive_age(self) -> HotlistChanges:
        _check_age(self.max_age)
        return self


class Hotlist(BaseModel):
    """A list as stored, with its number of current entries and whether it is
    stale (not refreshed within `max_age`)."""

    model_config = ConfigDict(frozen=True)

    hotlist_id: int
    name: str
    description: str | None
    priority: int
    match_mode: MatchMode
    max_cost: float
    site_ids: list[str]
    camera_ids: list[str]
    max_age: timedelta | None
    source: str
    revision: int
    refreshed_at: datetime
    created_by: str
    created_at: datetime
    deleted_at: datetime | None
    stale: bool
    entry_count: int
    has_webhook: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Hotlist:
        return cls.model_validate(dict(row))


class EntryFields(BaseModel):
    """What an entry says besides its plate and region (shared by add and import)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Short
    case_number: Short | None = None
    agency: Short | None = None
    record_number: Short | None = None
    notes: Text | None = None
    details: Details = {}
    match_mode: MatchMode | None = None
    max_cost: Cost | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @model_validator(mode="after")
    def _window(self) -> EntryFields:
        _check_window(self.valid_from, self.valid_until)
        return self


class EntrySpec(EntryFields):
    """An entry to add: a plate (or a wildcard pattern) wanted for a reason."""

    plate: Annotated[str, StringConstraints(min_length=1, max_length=100), Stored]
    region: Annotated[str, StringConstraints(max_length=10), Stored] | None = None


class EntryChanges(BaseModel):
    """Fields of an entry to change; None keeps a field. `clear_mode` drops
    the entry's own mode and cost (the list's apply), `clear_valid_until`
    lets it match without end. Plate and region do not change: remove the
    entry and add another."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Short | None = None
    case_number: Short | None = None
    agency: Short | None = None
    record_number: Short | None = None
    notes: Text | None = None
    details: Details | None = None
    match_mode: MatchMode | None = None
    max_cost: Cost | None = None
    clear_mode: bool = False
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    clear_valid_until: bool = False

    @model_validator(mode="after")
    def _window(self) -> EntryChanges:
        _check_window(self.valid_from, self.valid_until)
        return self


class Entry(BaseModel):
    """An entry as stored; `active` when it matches now (not removed, within
    its validity)."""

    model_config = ConfigDict(frozen=True)

    entry_id: int
    hotlist_id: int
    hotlist: str
    plate: str
    region: str | None
    reason: str
    case_number: str | None
    agency: str | None
    record_number: str | None
    notes: str | None
    details: dict[str, Any]
    match_mode: MatchMode | None
    max_cost: float | None
    effective_mode: MatchMode
    effective_max_cost: float
    valid_from: datetime
    valid_until: datetime | None
    added_by: str
    added_at: datetime
    removed_by: str | None
    removed_at: datetime | None
    active: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Entry:
        data = dict(row)
        data["details"] = json.loads(data["details"])
        return cls.model_validate(data)


@dataclass(frozen=True)
class EntryFilter:
    """Which entries of a list to page through; None narrows nothing.
    InvalidRequest for text PostgreSQL cannot compare."""

    plate: str | None = None
    reason: str | None = None
    active: bool | None = None

    def __post_init__(self) -> None:
        for argument in ("plate", "reason"):
            value = getattr(self, argument)
            if value is not None:
                check_text(value, argument)


@dataclass(frozen=True)
class Webhook:
    """A list's webhook as the API shows it: never the secret."""

    webhook_id: int
    url: str
    enabled: bool
    failing_since: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime


def entry_plate(text: str, mode: MatchMode) -> str:
    """The plate an entry stores for `text` under `mode`: normalized as reads
    are, or a wildcard pattern as `parse_wildcard` canonicalizes it (a text
    without `*` or `?` is a fragment found anywhere). InvalidRequest("plate")
    when nothing is left, it is too long, or a pattern is given outside
    wildcard mode."""
    if mode == "wildcard":
        try:
            return parse_wildcard(text).text
        except InvalidRequest as exc:
            raise InvalidRequest("plate", exc.reason) from None
    if "*" in text or "?" in text:
        raise InvalidRequest("plate", "a pattern with * or ? needs the wildcard mode")
    plate = normalize_plate(text)
    if not plate:
        raise InvalidRequest("plate", "needs at least one letter or digit")
    if len(plate) > MAX_QUERY_LENGTH:
        raise InvalidRequest("plate", f"longer than {MAX_QUERY_LENGTH} characters")
    if mode == "fuzzy" and len(plate) < MIN_FUZZY_LENGTH:
        raise InvalidRequest("plate", f"fuzzy entries need {MIN_FUZZY_LENGTH} characters or more")
    return plate


def entry_region(text: str | None) -> str | None:
    """A region/state as entries store it: trimmed, upper case, None when blank."""
    if text is None or not text.strip():
        return None
    region = text.strip().upper()
    if len(region) > 10:
        raise InvalidRequest("region", "longer than 10 characters")
    return region


@cache
def queries() -> dict[str, Query]:
    """The statements of hotlists.sql, column lists filled in (the import uses them too)."""
    blocks = load_blocks("hotlists")
    fragments = {name: blocks[name] for name in ("hotlist_columns", "entry_columns")}
    made = {}
    for name, source in blocks.items():
        if name in fragments:
            continue
        used = {slot: text for slot, text in fragments.items() if "{" + slot + "}" in source}
        made[name] = Query.parse(fill(source, **used) if used else source)
    return made


def _q(query: str, **values: Any) -> tuple[Any, ...]:
    return queries()[query].bind(**values)


async def record_change(
    conn: Conn,
    hotlist_id: int,
    actor: Actor,
    operation: str,
    variables: Mapping[str, Any],
    *,
    refreshed: bool = False,
    result_count: int | None = None,
) -> int:
    """The tail of every change, in its transaction: a new revision (and
    refreshed_at when `refreshed`), the notification, the audit record.
    Returns the new revision."""
    revision: int = await conn.fetchval(
        *_q("touch_hotlist", hotlist_id=hotlist_id, refreshed=refreshed)
    )
    await conn.execute(*_q("notify_hotlist", hotlist_id=hotlist_id))
    await write_audit(conn, actor, operation, variables, result_count)
    return revision


async def write_audit(
    db: Any,
    actor: Actor,
    operation: str,
    variables: Mapping[str, Any],
    result_count: int | None = None,
) -> None:
    """One audit record of what `actor` did (`by` is added to the variables);
    in the caller's transaction when `db` is a connection in one."""
    await db.execute(
        *_q(
            "insert_audit",
            key_id=actor.key_id,
            client=actor.client,
            operation=operation,
            variables=json.dumps({**variables, "by": actor.name}, default=str),
            result_count=result_count,
            purpose=actor.purpose,
        )
    )


def known_id(row_id: int, what: str) -> None:
    """NotFound for an id outside BIGINT (no row has it; the driver would fail)."""
    if not 1 <= row_id <= MAX_ID:
        raise NotFound(f"no {what} {row_id}")


def _known_name(name: str) -> None:
    """InvalidRequest("hotlist") for a name PostgreSQL cannot compare (a NUL,
    a lone surrogate): no list has it, and the lookup itself would fail."""
    check_text(name, "hotlist")


async def one_row(db: Any, bound: tuple[Any, ...], missing: str) -> Any:
    """The row the bound query (`Query.bind`) reads; NotFound(`missing`) without one."""
    row = await db.fetchrow(*bound)
    if row is None:
        raise NotFound(missing)
    return row


async def _locked_list(conn: Conn, name: str) -> Any:
    _known_name(name)
    return await one_row(conn, _q("lock_hotlist", name=name), f"no hotlist named {name!r}")


async def _hotlist(conn: Conn, hotlist_id: int) -> Hotlist:
    row = await conn.fetchrow(*_q("hotlist_by_id", hotlist_id=hotlist_id))
    assert row is not None
    return Hotlist.from_row(row)


def _check_actor(actor: Actor) -> None:
    if not actor.name.strip():
        raise InvalidRequest("by", "who makes the change is required")


@translated
async def create_hotlist(pool: asyncpg.Pool[Any], spec: HotlistSpec, actor: Actor) -> Hotlist:
    """Create a list; InvalidRequest("name") when a list (even a deleted one) has the name."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        try:
            hotlist_id = await conn.fetchval(
                *_q("create_hotlist", **spec.model_dump(), created_by=actor.name)
            )
        except asyncpg.UniqueViolationError:
            raise InvalidRequest("name", f"a hotlist named {spec.name!r} exists") from None
        await record_change(conn, hotlist_id, actor, "hotlist.create", spec.model_dump())
        hotlist = await _hotlist(conn, hotlist_id)
    log.info("hotlist %s created by %s", hotlist.name, actor.name)
    return hotlist


@translated
async def update_hotlist(
    pool: asyncpg.Pool[Any], name: str, changes: HotlistChanges, actor: Actor
) -> Hotlist:
    """Change a list's settings. Refuses (InvalidRequest("matchMode")) to take
    the wildcard mode from a list whose entries are patterns by it alone."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        locked = await _locked_list(conn, name)
        hotlist_id = locked["hotlist_id"]
        if changes.match_mode not in (None, "wildcard") and locked["match_mode"] == "wildcard":
            if await conn.fetchval(*_q("patterns_without_mode", hotlist_id=hotlist_id)):
                raise InvalidRequest(
                    "matchMode", "entries of this list are wildcard patterns; remove them first"
                )
        await conn.execute(*_q("update_hotlist", hotlist_id=hotlist_id, **changes.model_dump()))
        changed = changes.model_dump(exclude_defaults=True)
        await record_change(conn, hotlist_id, actor, "hotlist.update", {"hotlist": name, **changed})
        return await _hotlist(conn, hotlist_id)


@translated
async def delete_hotlist(pool: asyncpg.Pool[Any], name: str, actor: Actor) -> Hotlist:
    """Delete a list: it stops matching at once; its rows and alerts stay."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        hotlist_id = (await _locked_list(conn, name))["hotlist_id"]
        await conn.execute(*_q("delete_hotlist", hotlist_id=hotlist_id))
        await record_change(conn, hotlist_id, actor, "hotlist.delete", {"hotlist": name})
        hotlist = await _hotlist(conn, hotlist_id)
    log.info("hotlist %s deleted by %s", name, actor.name)
    return hotlist


@translated
async def list_hotlists(db: Any, *, include_deleted: bool = False) -> list[Hotlist]:
    """Lists by priority (highest first), then name."""
    rows = await db.fetch(*_q("list_hotlists", include_deleted=include_deleted))
    return [Hotlist.from_row(row) for row in rows]


@translated
async def get_hotlist(db: Any, name: str) -> Hotlist:
    """The live list named `name`; NotFound otherwise."""
    _known_name(name)
    bound = _q("hotlist_by_name", name=name)
    return Hotlist.from_row(await one_row(db, bound, f"no hotlist named {name!r}"))


@translated
async def hotlist_by_id(db: Any, hotlist_id: int) -> Hotlist:
    """A list by id, deleted or not; NotFound otherwise."""
    bound = _q("hotlist_by_id", hotlist_id=hotlist_id)
    return Hotlist.from_row(await one_row(db, bound, f"no hotlist {hotlist_id}"))


@translated
async def add_entry(
    pool: asyncpg.Pool[Any],
    hotlist: str,
    spec: EntrySpec,
    actor: Actor,
    *,
    backfill_days: int = DEFAULT_BACKFILL_DAYS,
) -> Entry:
    """Add an entry to `hotlist` and ask for the search of its past hits over
    the last `backfill_days` (servers pass `BackfillSettings.backfill_days()`:
    ALPR_ALERT_BACKFILL_DAYS within retention). InvalidRequest("plate") when
    the list already has an active entry for the plate and region."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        locked = await _locked_list(conn, hotlist)
        hotlist_id = locked["hotlist_id"]
        plate = entry_plate(spec.plate, spec.match_mode or locked["match_mode"])
        fields = spec.model_dump(exclude={"plate", "region", "details"})
        values = {**fields, "plate": plate, "region": entry_region(spec.region)}
        try:
            entry_id = await conn.fetchval(
                *_q(
                    "add_entry",
                    hotlist_id=hotlist_id,
                    details=json.dumps(spec.details),
                    added_by=actor.name,
                    **values,
                )
            )
        except asyncpg.UniqueViolationError:
            raise InvalidRequest(
                "plate", "the list has an active entry for this plate and region"
            ) from None
        except asyncpg.CheckViolationError:
            # valid_from defaults to now(), so only the database can compare.
            raise InvalidRequest("validUntil", "valid_until must be after valid_from") from None
        await conn.execute(
            *_q("request_backfill", hotlist_id=hotlist_id, entry_ids=[entry_id], days=backfill_days)
        )
        audited = {"hotlist": hotlist, "entry_id": entry_id, **values, "details": spec.details}
        await record_change(conn, hotlist_id, actor, "hotlist.entry.add", audited, refreshed=True)
        return await _entry(conn, entry_id)


async def _entry(conn: Any, entry_id: int) -> Entry:
    known_id(entry_id, "hotlist entry")
    bound = _q("entry_by_id", entry_id=entry_id)
    return Entry.from_row(await one_row(conn, bound, f"no hotlist entry {entry_id}"))


async def _locked_entry(conn: Conn, entry_id: int) -> Any:
    known_id(entry_id, "current hotlist entry")
    row = await conn.fetchrow(*_q("lock_entry", entry_id=entry_id))
    if row is None or row["removed_at"] is not None:
        raise NotFound(f"no current hotlist entry {entry_id}")
    return row


@translated
async def update_entry(
    pool: asyncpg.Pool[Any], entry_id: int, changes: EntryChanges, actor: Actor
) -> Entry:
    """Change a current entry; its plate must suit the mode it ends with."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        locked = await _locked_entry(conn, entry_id)
        current = await _entry(conn, entry_id)
        own_mode = None if changes.clear_mode else changes.match_mode or current.match_mode
        mode = own_mode or locked["list_mode"]
        if entry_plate(locked["plate"], mode) != locked["plate"]:
            raise InvalidRequest("matchMode", f"the entry's plate does not suit the {mode} mode")
        values = changes.model_dump()
        values["details"] = None if changes.details is None else json.dumps(changes.details)
        try:
            await conn.execute(*_q("update_entry", entry_id=entry_id, **values))
        except asyncpg.CheckViolationError:
            raise InvalidRequest("validUntil", "valid_from must be before valid_until") from None
        audited = {"hotlist": current.hotlist, "entry_id": entry_id}
        audited.update(changes.model_dump(exclude_defaults=True))
        await record_change(
            conn, locked["hotlist_id"], actor, "hotlist.entry.update", audited, refreshed=True
        )
        return await _entry(conn, entry_id)


@translated
async def remove_entry(pool: asyncpg.Pool[Any], entry_id: int, actor: Actor) -> Entry:
    """Remove a current entry: it stops matching; the row and its alerts stay."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        locked = await _locked_entry(conn, entry_id)
        await conn.execute(*_q("remove_entry", entry_id=entry_id, removed_by=actor.name))
        entry = await _entry(conn, entry_id)
        audited = {"hotlist": entry.hotlist, "entry_id": entry_id, "plate": entry.plate}
        await record_change(
            conn, locked["hotlist_id"], actor, "hotlist.entry.remove", audited, refreshed=True
        )
        return entry


@translated
async def get_entry(db: Any, entry_id: int) -> Entry:
    """One entry, current or removed; NotFound otherwise."""
    return await _entry(db, entry_id)


@translated
async def list_entries(
    db: Any,
    hotlist_id: int,
    entry_filter: EntryFilter,
    first: int,
    after_id: int | None = None,
) -> tuple[list[Entry], bool]:
    """A page of a list's entries, newest first, after entry `after_id`;
    returns (entries, whether more follow)."""
    if not 1 <= first <= MAX_ENTRY_PAGE:
        raise InvalidRequest("first", f"must be between 1 and {MAX_ENTRY_PAGE}")
    plate = None if entry_filter.plate is None else entry_filter.plate.strip().upper()
    rows = await db.fetch(
        *_q(
            "entries_page",
            hotlist_id=hotlist_id,
            after_id=after_id,
            plate=plate,
            reason=entry_filter.reason,
            active=entry_filter.active,
            limit=first + 1,
        )
    )
    return [Entry.from_row(row) for row in rows[:first]], len(rows) > first


def check_webhook(url: str, secret: str) -> None:
    """InvalidRequest for a URL that is not http(s) or a secret shorter than 16,
    or either holding text PostgreSQL cannot store."""
    if not url.startswith(("http://", "https://")) or len(url) > 2000 or " " in url:
        raise InvalidRequest("url", "must be an http:// or https:// URL")
    check_text(url, "url")
    check_text(secret, "secret")
    if len(secret) < MIN_SECRET:
        raise InvalidRequest("secret", f"must have {MIN_SECRET} characters or more")


@translated
async def set_webhook(
    pool: asyncpg.Pool[Any], hotlist: str, url: str, secret: str, actor: Actor
) -> Webhook:
    """Set (or replace) the list's webhook; the secret signs deliveries and
    is never returned, logged or audited."""
    _check_actor(actor)
    check_webhook(url, secret)
    async with pool.acquire() as conn, conn.transaction():
        hotlist_id = (await _locked_list(conn, hotlist))["hotlist_id"]
        await conn.execute(
            *_q("set_webhook", hotlist_id=hotlist_id, url=url, secret=secret, created_by=actor.name)
        )
        audited = {"hotlist": hotlist, "url": url}
        await record_change(conn, hotlist_id, actor, "hotlist.webhook.set", audited)
        webhook = await _webhook(conn, hotlist_id)
    assert webhook is not None
    return webhook


@translated
async def remove_webhook(pool: asyncpg.Pool[Any], hotlist: str, actor: Actor) -> bool:
    """Stop the list's webhook (its delivery log stays); False when it had none."""
    _check_actor(actor)
    async with pool.acquire() as conn, conn.transaction():
        hotlist_id = (await _locked_list(conn, hotlist))["hotlist_id"]
        if await conn.fetchval(*_q("disable_webhook", hotlist_id=hotlist_id)) is None:
            return False
        await record_change(conn, hotlist_id, actor, "hotlist.webhook.remove", {"hotlist": hotlist})
    return True


async def _webhook(db: Any, hotlist_id: int) -> Webhook | None:
    row = await db.fetchrow(*_q("webhook_of", hotlist_id=hotlist_id))
    return None if row is None else Webhook(**dict(row))


@translated
async def get_webhook(db: Any, hotlist: str) -> Webhook | None:
    """The list's webhook (without its secret), enabled or not; None when it never had one."""
    return await _webhook(db, (await get_hotlist(db, hotlist)).hotlist_id)


@translated
async def webhook_by_id(db: Any, hotlist_id: int) -> Webhook | None:
    """As `get_webhook`, by the list's id."""
    return await _webhook(db, hotlist_id)


@dataclass(frozen=True)
class Staleness:
    """A live list's age since its last refresh, and whether it is past its max_age."""

    name: str
    age_s: float
    stale: bool


@translated
async def staleness(db: Any) -> list[Staleness]:
    """Every live list's staleness, by name (for metrics and `alpr status`)."""
    return [Staleness(**dict(row)) for row in await db.fetch(*_q("staleness"))]
