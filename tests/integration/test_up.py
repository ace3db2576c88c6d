"""`alpr up --simulate`, the README's first command: data appears, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stats(port: int) -> dict[str, object] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_up_with_simulate_serves_synthetic_reads(tmp_path: Path) -> None:
    gateway, ingest, metrics = _free_port(), _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
        "ALPR_GATEWAY_PORT": str(gateway),
        "ALPR_INGEST_HTTP_PORT": str(ingest),
        "ALPR_INGESTOR_METRICS_PORT": str(metrics),
    }
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alpr",
            "up",
            "--simulate",
            "--rate",
            "50",
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        stats = None
        while time.monotonic() < deadline:
            stats = _stats(gateway)
            if stats and int(str(stats["total_events"])) > 0:
                break
            time.sleep(0.5)
        assert stats is not None and int(str(stats["total_events"])) > 0, "no reads arrived"
        assert int(str(stats["active_cameras"])) > 0
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert "sending synthetic reads" in output
    # Every child went with it: nothing answers on the gateway's port any more.
    assert _stats(gateway) is None
