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


async def _start(database_url: str, **env: str) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    variables = {
        **os.environ,
        "ALPR_DATABASE_URL": database_url,
        "ALPR_GATEWAY_PORT": str(port),
        "ALPR_REQUIRE_KEYS": "false",
        "ALPR_LOG_LEVEL": "INFO",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", env=variables, stderr=asyncio.subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(400):
            try:
                if (await client.get("/ready")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("the gateway never became ready")


async def test_the_process_serves_and_logs_no_plate_text(database_url: str) -> None:
    process, url = await _start(database_url)
    try:
        async with httpx.AsyncClient(base_url=url) as client:
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


async def test_several_worker_processes_serve_one_port(database_url: str) -> None:
    process, url = await _start(database_url, ALPR_GATEWAY_WORKERS="2")
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(10):
                body = (
                    await client.post("/graphql", json={"query": "{ stats { totalReads } }"})
                ).json()
                assert body["data"]["stats"]["totalReads"] >= 0
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    # Each worker built its own app (and said so).
    assert stderr.decode().count("API keys are OFF") == 2
