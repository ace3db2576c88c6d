"""GraphQL shapes of plate search: the mode enum, the filter input, ranked
matches and their connection. No I/O; `gateway.resolvers` resolves them.

Search results are ranked, not ordered by time, so the connection's cursor
is a position in the ranking (`schema.paging.encode_rank`), valid for the
same query and filter.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.filters import check_id, check_window
from schema.graphql.types import Connection, Edge, PageInfo
from schema.paging import encode_rank
from schema.plate_match import PlateMatch, SearchFilter, SearchMode

SearchModeType = strawberry.enum(
    SearchMode,
    name="SearchMode",
    description=(
        "EXACT: the normalized plate. WILDCARD: * any run, ? one character (AB?12*); a "
        "fragment without either matches anywhere (7353 finds LOS7353). FUZZY: OCR "
        "confusions (0/O/D/Q, 1/I/L/T/7, 2/Z, 5/S, 6/G, 8/B, U/V, M/N/H) cost 0.25, any "
        "other substitution, insertion or deletion 1."
    ),
)


@strawberry.input(description="Narrow a plate search; every condition is optional.")
class PlateSearchFilter:
    since: datetime | None = strawberry.field(
        default=None, description="Plates with a read at or after this time."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Plates with a read before this time."
    )
    camera_id: str | None = None
    site_id: str | None = None
    region: str | None = strawberry.field(default=None, description="The plate's last region.")

    def to_filter(self) -> SearchFilter:
        since, until = check_window(self.since, self.until)
        return SearchFilter(
            since=since,
            until=until,
            camera_id=check_id(self.camera_id, "cameraId"),
            site_id=check_id(self.site_id, "siteId"),
            region=check_id(self.region, "region"),
        )


@strawberry.type(name="PlateMatch", description="A plate found by a search, with its cost.")
class PlateMatchNode:
    plate: str
    score: float = strawberry.field(
        description="The match cost: 0 for exact and wildcard; the weighted edit cost for fuzzy."
    )
    first_seen: datetime
    last_seen: datetime
    read_count: int
    last_region: str
    cameras: list[str] = strawberry.field(description="Cameras it was seen at, latest first.")

    @classmethod
    def from_match(cls, match: PlateMatch) -> PlateMatchNode:
        return cls(
            plate=match.plate,
            score=match.score,
            first_seen=match.first_seen,
            last_seen=match.last_seen,
            read_count=match.read_count,
            last_region=match.last_region,
            cameras=list(match.cameras),
        )


@strawberry.type(description="Ranked plate matches, best first.")
class PlateMatchConnection(Connection[PlateMatchNode]):
    complete: bool = strawberry.field(
        description=(
            "False when the search looked at a bounded part of the plates (a wildcard "
            "without three literal characters in a row scans the most recently seen ones)."
        )
    )

    @classmethod
    def from_matches(
        cls, matches: list[PlateMatch], offset: int, has_more: bool, complete: bool
    ) -> PlateMatchConnection:
        """The page of `matches` ranked from `offset` on; a page `after` an
        edge's cursor starts past it."""
        edges = [
            Edge(cursor=encode_rank(offset + i + 1), node=PlateMatchNode.from_match(m))
            for i, m in enumerate(matches)
        ]
        info = PageInfo.of(edges, has_next_page=has_more, has_previous_page=offset > 0)
        return cls(edges=edges, page_info=info, complete=complete)
