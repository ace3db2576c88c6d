"""Legal holds over GraphQL: `placeLegalHold` and `releaseLegalHolds`.

Administrators only (the `admin` scope, as `legalHolds` and `/admin/holds`).
The work is `core.holds`, as for REST and `alpr hold`; who placed or
released a hold is the key's name. A hold names plate data, so each
mutation is audited like a read of it: the operation and its arguments are
recorded by the AuditExtension before the answer leaves (and the purpose
rule applies).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from pydantic import ValidationError

from core import holds
from gateway.context import Context
from schema.errors import InvalidRequest, NotFound
from schema.filters import check_instant, check_text
from schema.graphql.types import LegalHold

Info = strawberry.Info[Context, None]


def hold_type(hold: holds.Hold) -> LegalHold:
    """The GraphQL shape of a stored hold."""
    return LegalHold(
        id=strawberry.ID(str(hold.hold_id)),
        event_id=None if hold.event_id is None else str(hold.event_id),
        plate=hold.plate_normalized_text,
        held_from=hold.held_from,
        held_until=hold.held_until,
        case_number=hold.case_number,
        reason=hold.reason,
        created_by=hold.created_by,
        created_at=hold.created_at,
        active=hold.active,
        released_at=hold.released_at,
        released_by=hold.released_by,
        release_reason=hold.release_reason,
    )


def _event_id(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise InvalidRequest("eventId", "is not a read id") from None


def _texts(**values: str | None) -> None:
    for name, value in values.items():
        if value is not None:
            check_text(value, name)


def _hold_id(value: strawberry.ID | None) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 2**63 - 1:
        raise InvalidRequest("id", "is not a hold id")
    return int(text)


@strawberry.type
class HoldMutations:
    @strawberry.mutation
    async def place_legal_hold(
        self,
        info: Info,
        reason: str,
        plate: str | None = None,
        event_id: str | None = None,
        case_number: str | None = None,
        held_from: datetime | None = None,
        held_until: datetime | None = None,
    ) -> LegalHold:
        """Keep a plate's reads (optionally within [heldFrom, heldUntil)) or one
        read from retention until released (admin scope)."""
        ctx = info.context
        ctx.require_admin("placing legal holds")
        _texts(plate=plate, caseNumber=case_number, reason=reason)
        held_from = check_instant(held_from, "heldFrom")
        held_until = check_instant(held_until, "heldUntil")
        try:
            request = holds.HoldRequest(
                event_id=_event_id(event_id),
                plate=plate,
                held_from=held_from,
                held_until=held_until,
                case_number=case_number,
                reason=reason,
                created_by=ctx.actor().name,
            )
        except ValidationError as exc:
            raise InvalidRequest("hold", exc.errors()[0]["msg"]) from None
        ctx.reader.note_plate_data(0)  # the purpose rule, before the change
        placed = await holds.add_hold(ctx.state.pool, request)
        ctx.reader.note_plate_data(1)
        return hold_type(placed)

    @strawberry.mutation
    async def release_legal_holds(
        self,
        info: Info,
        reason: str,
        id: strawberry.ID | None = None,
        case_number: str | None = None,
    ) -> list[LegalHold]:
        """Release hold `id`, or every active hold of `caseNumber`; the records
        stay with who released them and why (admin scope). NOT_FOUND when no
        active hold matched."""
        ctx = info.context
        ctx.require_admin("releasing legal holds")
        _texts(caseNumber=case_number, reason=reason)
        ctx.reader.note_plate_data(0)
        released = await holds.release_holds(
            ctx.state.pool,
            released_by=ctx.actor().name,
            reason=reason,
            hold_id=_hold_id(id),
            case_number=case_number,
        )
        if not released:
            raise NotFound("no active hold matched")
        ids = set(released)
        found = await holds.list_holds(ctx.state.pool, active_only=False)
        done = [hold_type(h) for h in found if h.hold_id in ids]
        ctx.reader.note_plate_data(len(done))
        return done
