"""Legal holds over REST, for administrators: place, list, release.

`/admin/holds` needs a key with the `admin` scope (with keys off, allowed
on loopback only, a request without a key acts as "local"). Who placed or
released a hold is the key's name, recorded with the hold. These run the
same named queries as `alpr hold` (`sql/queries/holds.sql`); the holds
themselves are honoured by the ingestor's retention.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alpr.db import translated
from alpr.keys import authenticate
from gateway.auth import token_from_headers
from gateway.context import GatewayState
from schema.errors import InvalidRequest, NotFound
from schema.holds import Hold, HoldRequest
from sql import load_queries

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin/holds", tags=["legal holds"])


class Admin:
    """The caller: the gateway's state and the name recorded for them."""

    def __init__(self, state: GatewayState, name: str) -> None:
        self.state = state
        self.name = name


async def admin(request: Request) -> Admin:
    """Require the `admin` scope (unless keys are off and none was sent)."""
    state: GatewayState = request.app.state.gateway
    token = token_from_headers(request.headers)
    if token is None and not state.keys_required:
        return Admin(state, "local")
    key = await authenticate(state.pool, token, "admin")
    return Admin(state, f"{key.name} ({key.key_id})")


AdminDep = Annotated[Admin, Depends(admin)]


class HoldCreate(BaseModel):
    """A hold to place: one read (`event_id`) or a plate, optionally in a time window."""

    model_config = ConfigDict(extra="forbid")

    event_id: UUID | None = None
    plate: str | None = None
    held_from: datetime | None = None
    held_until: datetime | None = None
    case_number: str | None = None
    reason: str = Field(min_length=1)


class HoldRelease(BaseModel):
    """Why a hold (or a case's holds) is released."""

    reason: str = Field(min_length=1)


class HoldPublic(BaseModel):
    """A hold as the API shows it."""

    hold_id: int
    event_id: UUID | None
    plate: str | None
    held_from: datetime | None
    held_until: datetime | None
    case_number: str | None
    reason: str
    created_by: str
    created_at: datetime
    active: bool
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None

    @classmethod
    def from_hold(cls, hold: Hold) -> HoldPublic:
        data: dict[str, Any] = hold.model_dump()
        data["plate"] = data.pop("plate_normalized_text")
        return cls(**data, active=hold.active)


class ReleasedPublic(BaseModel):
    """The holds a release call released."""

    released: list[int]


def _queries() -> dict[str, str]:
    return load_queries("holds")


@translated
async def _fetch(state: GatewayState, name: str, *args: Any) -> list[Any]:
    return list(await state.pool.fetch(_queries()[name], *args))


@router.post("", status_code=201)
async def create_hold(caller: AdminDep, body: HoldCreate) -> HoldPublic:
    """Place a legal hold; its reads survive retention until it is released."""
    try:
        request = HoldRequest(**body.model_dump(), created_by=caller.name)
    except ValidationError as exc:
        raise InvalidRequest("body", exc.errors()[0]["msg"]) from None
    (row,) = await _fetch(
        caller.state,
        "add_hold",
        request.event_id,
        request.normalized_plate(),
        request.held_from,
        request.held_until,
        request.case_number,
        request.reason,
        request.created_by,
    )
    hold = Hold.from_row(row)
    log.info("legal hold %s placed by %s (case %s)", hold.hold_id, caller.name, hold.case_number)
    return HoldPublic.from_hold(hold)


@router.get("")
async def list_holds(
    caller: AdminDep,
    include_released: Annotated[bool, Query(alias="all")] = False,
    case_number: Annotated[str | None, Query(alias="case")] = None,
) -> list[HoldPublic]:
    """Holds in the order placed; released ones too with `all=true`."""
    rows = await _fetch(caller.state, "list_holds", not include_released, case_number)
    return [HoldPublic.from_hold(Hold.from_row(row)) for row in rows]


async def _release(
    caller: Admin, hold_id: int | None, case_number: str | None, reason: str
) -> ReleasedPublic:
    rows = await _fetch(caller.state, "release_holds", hold_id, case_number, caller.name, reason)
    if not rows:
        raise NotFound("no active hold matched")
    released = [int(row["hold_id"]) for row in rows]
    log.info("legal holds %s released by %s", released, caller.name)
    return ReleasedPublic(released=released)


@router.post("/{hold_id}/release")
async def release_hold(caller: AdminDep, hold_id: int, body: HoldRelease) -> ReleasedPublic:
    """Release one hold; the record stays, with who released it and why."""
    return await _release(caller, hold_id, None, body.reason)


@router.post("/cases/{case_number}/release")
async def release_case(caller: AdminDep, case_number: str, body: HoldRelease) -> ReleasedPublic:
    """Release every active hold of a case."""
    return await _release(caller, None, case_number, body.reason)
