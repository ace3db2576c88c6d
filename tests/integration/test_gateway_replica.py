"""The read replica: queries read it, keys and audit stay on the primary, health reports both."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from core.migrate import migrate
from ingestor.writer import write_batch
from schema.events import event_from_dict
from tests.conftest import create_database, drop_database
from tests.factories import wire_event
from tests.integration.gateway_server import gql, serve, settings_for


async def test_queries_go_to_the_replica_and_health_reports_both(
    pg_admin_url: str, database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    replica_url = await create_database(pg_admin_url)
    try:
        await migrate(replica_url, "postgres")
        only_on_replica = event_from_dict(wire_event(camera_id="replica-cam"))
        conn = await asyncpg.connect(replica_url)
        try:
            await write_batch(conn, [only_on_replica])
        finally:
            await conn.close()
        settings = settings_for(database_url, read_database_url=replica_url)
        async with serve(settings) as url, httpx.AsyncClient(base_url=url) as client:
            health = (await client.get("/health")).json()
            assert health["database"] == {"primary": "ok", "replica": "ok"}
            body = await gql(client, "{ events(first: 5) { edges { node { id cameraId } } } }")
            nodes = [e["node"] for e in body["data"]["events"]["edges"]]
            assert nodes == [{"id": str(only_on_replica.event_id), "cameraId": "replica-cam"}]
            # The audit record went to the primary, which a replica could not take.
            operation = await pool.fetchval(
                "SELECT operation FROM audit_log ORDER BY audit_id DESC LIMIT 1"
            )
            assert operation == "query events"

            await drop_database(pg_admin_url, replica_url)
            health = (await client.get("/health")).json()
            assert health["database"] == {"primary": "ok", "replica": "unavailable"}
            assert health["status"] == "degraded"
            assert (await client.get("/ready")).status_code == 503
    finally:
        await drop_database(pg_admin_url, replica_url)
