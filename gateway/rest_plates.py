"""Plate search over REST: `GET /search/plates`, the twin of GraphQL `plateSearch`
(gateway.resolvers).

It runs `gateway.plate_search` on the read pool and writes its own audit
record, like every REST read of plate data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.audit import record
from gateway.plate_search import MAX_PAGE, SearchLimits, search_plates
from gateway.rest import Ctx
from schema.filters import check_id, check_text, check_window
from schema.plate_match import DEFAULT_MAX_DISTANCE, PlateMatch, SearchFilter, SearchMode


class PlateMatchPublic(BaseModel):
    """One search result."""

    plate: str
    score: float
    first_seen: datetime
    last_seen: datetime
    read_count: int
    last_region: str
    cameras: list[str]

    @classmethod
    def from_match(cls, match: PlateMatch) -> PlateMatchPublic:
        return cls(
            plate=match.plate,
            score=match.score,
            first_seen=match.first_seen,
            last_seen=match.last_seen,
            read_count=match.read_count,
            last_region=match.last_region,
            cameras=list(match.cameras),
        )


router = APIRouter(prefix="/search", tags=["search"])


@router.get("/plates", response_model=list[PlateMatchPublic])
async def search_plates_rest(
    ctx: Ctx,
    q: Annotated[str, Query(description="plate, wildcard (AB?12*) or fragment")],
    mode: Literal["exact", "wildcard", "fuzzy"] = "fuzzy",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    max_distance: Annotated[float, Query(ge=0)] = DEFAULT_MAX_DISTANCE,
    since: datetime | None = None,
    until: datetime | None = None,
    camera_id: str | None = None,
    site_id: str | None = None,
    region: str | None = None,
) -> list[PlateMatchPublic]:
    """Plates matching `q`, best first (the REST twin of GraphQL `plateSearch`)."""
    check_text(q, "q")
    since, until = check_window(since, until)
    search_filter = SearchFilter(
        since=since,
        until=until,
        camera_id=check_id(camera_id, "camera_id"),
        site_id=check_id(site_id, "site_id"),
        region=check_id(region, "region"),
    )
    ctx.reader.note_plate_data(0)
    page = await search_plates(
        ctx.state.read_pool,
        q,
        SearchMode(mode),
        search_filter,
        first=limit,
        limits=SearchLimits(max_distance=max_distance),
    )
    variables = {
        "q": q,
        "mode": mode,
        "limit": limit,
        "max_distance": max_distance,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "camera_id": camera_id,
        "site_id": site_id,
        "region": region,
    }
    await record(ctx, "GET /search/plates", variables, len(page.matches))
    return [PlateMatchPublic.from_match(m) for m in page.matches]
