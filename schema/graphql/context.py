"""What the GraphQL types need from the server, as a protocol.

Types call `info.context.reader`; the gateway's request context provides an
object with these methods (backed by DataLoaders and SQL). Nothing here does
I/O itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from schema.cameras import CameraGap
    from schema.filters import EventQuery
    from schema.graphql.matches import PlateMatchNode
    from schema.graphql.types import Camera, EventConnection, HourlyCount, Plate, PlateSighting
    from schema.paging import PageRequest


class Reader(Protocol):
    """Reads for nested fields; each call may be batched with its siblings."""

    async def camera(self, camera_id: str) -> Camera | None: ...

    async def plate(self, normalized: str) -> Plate | None: ...

    async def events(
        self, query: EventQuery, page: PageRequest, nested: frozenset[str] = ...
    ) -> EventConnection:
        """A page of reads, with `nested` (`camera`, `plate`) set on each."""

    async def plate_sightings(self, normalized: str) -> list[PlateSighting]: ...

    async def cameras(self, site_id: str | None) -> list[Camera]: ...

    async def similar_plates(self, normalized: str, first: int) -> list[PlateMatchNode]: ...

    async def camera_gap(self, camera_id: str) -> CameraGap | None:
        """The camera's recent rhythm (schema/cameras.py); None without rollups."""

    async def camera_hours(self, camera_id: str, hours: int) -> list[HourlyCount]:
        """The camera's reads per hour over the newest `hours`, zeros included."""


class HasReader(Protocol):
    """The part of the request context the types use."""

    @property
    def reader(self) -> Reader: ...
