"""Legal holds over REST, for administrators: place, list, release.

`/admin/holds` needs a key with the `admin` scope (with keys off, allowed
on loopback only, a request without a key acts as "local"). Who placed or
released a hold is the key's name, recorded with the hold. The work is
`core.holds`, as for `alpr hold`; the ingestor's retention honours the holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core import holds
from core.holds import Hold, HoldRequest
from gateway.auth import check_key, token_from_headers
from gateway.context import GatewayState
from schema.errors import InvalidRequest, NotFound

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
    client = request.client.host if request.client else None
    key = await check_key(state, token, "admin", client, "rest")
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


@router.post("", status_code=201)
async def create_hold(caller: AdminDep, body: HoldCreate) -> HoldPublic:
    """Place a legal hold; its reads survive retention until it is released."""
    try:
        request = HoldRequest(**body.model_dump(), created_by=caller.name)
    except ValidationError as exc:
        raise InvalidRequest("body", exc.errors()[0]["msg"]) from None
    return HoldPublic.from_hold(await holds.add_hold(caller.state.pool, request))


@router.get("")
async def list_holds(
    caller: AdminDep,
    include_released: Annotated[bool, Query(alias="all")] = False,
    case_number: Annotated[str | None, Query(alias="case")] = None,
) -> list[HoldPublic]:
    """Holds in the order placed; released ones too with `all=true`."""
    found = await holds.list_holds(
        caller.state.pool, active_only=not include_released, case_number=case_number
    )
    return [HoldPublic.from_hold(hold) for hold in found]


async def _release(
    caller: Admin, hold_id: int | None, case_number: str | None, reason: str
) -> ReleasedPublic:
    released = await holds.release_holds(
        caller.state.pool,
        released_by=caller.name,
        reason=reason,
        hold_id=hold_id,
        case_number=case_number,
    )
    if not released:
        raise NotFound("no active hold matched")
    return ReleasedPublic(released=released)


@router.post("/{hold_id}/release")
async def release_hold(caller: AdminDep, hold_id: int, body: HoldRelease) -> ReleasedPublic:
    """Release one hold; the record stays, with who released it and why."""
    return await _release(caller, hold_id, None, body.reason)


@router.post("/cases/{case_number}/release")
async def release_case(caller: AdminDep, case_number: str, body: HoldRelease) -> ReleasedPublic:
    """Release every active hold of a case."""
    return await _release(caller, None, case_number, body.reason)
