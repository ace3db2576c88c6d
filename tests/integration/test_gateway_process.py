"""`python -m gateway` as a process: it serves, says keys are off, and keeps
plate text out of its INFO logs."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_process_serves_and_logs_no_plate_text(database_url: str) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ALPR_DATABASE_URL": database_url,
        "ALPR_GATEWAY_PORT": str(port),
        "ALPR_REQUIRE_KEYS": "false",
        "ALPR_LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the gateway never became ready")
            assert (await client.get("/events/plate/PRIVACY9")).status_code == 200
            queries = [
                '{ events(filter: {plate: "PRIVACY9"}) { edges { cursor } } }',
                '{ events(filter: {plate: "PRIVACY9"}) { nope } }',
                '{ plate(text: "PRIVACY9") { text } }',
            ]
            for query in queries:
                assert (await client.post("/graphql", json={"query": query})).status_code in (
                    200,
                    400,
                )
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    logs = stderr.decode()
    assert "API keys are OFF" in logs
    assert "PRIVACY9" not in logs
