"""The first hour of a new user: beside a running `alpr up`, the other commands
reach its embedded database with nothing configured; without it, they fail
in one line that says what to do, not with a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.test_up import _free_port


def _alpr(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alpr", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_commands_find_the_running_up_and_fail_in_one_line_without_it(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
        "PYTHONPATH": str(repo),
        "ALPR_GATEWAY_PORT": str(_free_port()),
        "ALPR_INGEST_HTTP_PORT": str(_free_port()),
        "ALPR_INGESTOR_METRICS_PORT": str(_free_port()),
    }
    # `alpr up` from a project directory, with its default data directory (./.alpr).
    up = subprocess.Popen(
        [sys.executable, "-m", "alpr", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # up.json appears once the database is migrated; a loaded machine is slow.
        deadline = time.monotonic() + 180
        while not (tmp_path / ".alpr" / "up.json").is_file():
            if up.poll() is not None:
                raise AssertionError(f"alpr up ended: {up.communicate()[0]}")
            assert time.monotonic() < deadline, "alpr up did not start"
            time.sleep(0.2)
        created = _alpr("keys", "create", "first-user", "--scope", "read", env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        listed = _alpr("keys", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 0 and "first-user" in listed.stdout, listed.stderr
        searched = _alpr("search", "AB123", env=env, cwd=tmp_path)
        assert searched.returncode == 0, searched.stderr
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 0, output
    assert not (tmp_path / ".alpr" / "up.json").exists()

    failed = _alpr("keys", "list", env=env, cwd=tmp_path)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), failed.stderr
    assert "alpr up" in lines[0] and "ALPR_DATABASE_URL" in lines[0]
