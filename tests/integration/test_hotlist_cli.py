"""`alpr hotlist …` and `alpr alerts …` as an operator runs them (real processes,
real PostgreSQL), and staleness in `alpr status` and the gateway's metrics."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.integration.alert_rows import raise_alert
from tests.integration.gateway_server import serve, settings_for


def alpr(database_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alpr", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ALPR_DATABASE_URL": database_url, **(env or {})},
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


async def test_lists_entries_and_imports(
    database_url: str, pool: asyncpg.Pool[Any], tmp_path: Path
) -> None:
    out = alpr(database_url, "hotlist", "create", "cli-ncic", "--priority", "90", "--max-age", "1d")
    assert "hotlist cli-ncic created" in out
    out = alpr(
        database_url,
        "hotlist",
        "add",
        "cli-ncic",
        "abc-123",
        "--reason",
        "stolen",
        "--region",
        "CA",
        "--by",
        "sgt pepper",
        "--purpose",
        "bulletin 7",
    )
    assert "ABC123 (exact)" in out
    extract = tmp_path / "extract.csv.gz"
    extract.write_bytes(
        gzip.compress(b"LIC,LIS,LIT,NIC\nABC123,CA,PC,V1\nZZZ999,NV,PC,V2\n,CA,PC,V3\n")
    )
    out = alpr(
        database_url,
        "hotlist",
        "import",
        str(extract),
        "--list",
        "cli-ncic",
        "--replace",
        "--reason",
        "stolen",
        "--verbose",
    )
    assert "3 rows, 2 accepted: 1 added, 1 changed, 0 unchanged, 0 removed; 1 refused" in out
    assert "added\tZZZ999 NV" in out and "line 4: missing plate" in out
    out = alpr(database_url, "hotlist", "list")
    assert "cli-ncic\t90\texact\t2\t" in out and "fresh" in out
    out = alpr(database_url, "hotlist", "show", "cli-ncic", "--purpose", "check")
    assert "ZZZ999" in out and "2 entries" in out
    secret = "cli-secret-0123456789"
    out = alpr(
        database_url,
        "hotlist",
        "webhook",
        "set",
        "cli-ncic",
        "--url",
        "https://r.test/h",
        env={"ALPR_WEBHOOK_SECRET": secret},
    )
    assert "delivers to https://r.test/h" in out and secret not in out
    assert secret not in alpr(database_url, "hotlist", "webhook", "show", "cli-ncic")
    audit = await pool.fetch(
        "SELECT operation, client, purpose, variables->>'by' AS by FROM audit_log"
        " WHERE client = 'cli' ORDER BY audit_id"
    )
    assert [r["operation"] for r in audit] == [
        "hotlist.create",
        "hotlist.entry.add",
        "hotlist.import",
        "cli hotlist show",
        "hotlist.webhook.set",
    ]
    assert audit[1]["by"] == "cli:sgt pepper" and audit[1]["purpose"] == "bulletin 7"


async def test_stale_lists_show_in_status_and_metrics(
    database_url: str, pool: asyncpg.Pool[Any]
) -> None:
    alpr(database_url, "hotlist", "create", "cli-daily", "--max-age", "24h")
    await pool.execute(
        "UPDATE hotlists SET refreshed_at = now() - interval '30 hours' WHERE name = 'cli-daily'"
    )
    out = alpr(database_url, "status")
    line = next(x for x in out.splitlines() if x.startswith("hotlists"))
    assert "STALE: cli-daily (1d old)" in line, line
    async with serve(settings_for(database_url)) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            metrics = (await client.get("/metrics")).text
    assert 'alpr_hotlist_stale{hotlist="cli-daily"} 1.0' in metrics
    assert 'alpr_hotlist_age_seconds{hotlist="cli-daily"}' in metrics


async def test_alert_triage_and_report(database_url: str, pool: asyncpg.Pool[Any]) -> None:
    first = await raise_alert(pool, "cli-alerts", "CLI001", reason="stolen")
    second = await raise_alert(pool, "cli-alerts", "CLI002", reason="amber")
    out = alpr(database_url, "alerts", "list", "--hotlist", "cli-alerts", "--purpose", "shift")
    assert out.index(f"{second}\tnew") < out.index(f"{first}\tnew")
    assert "CLI001" in alpr(database_url, "alerts", "show", str(first))
    assert "acknowledged by cli:" in alpr(database_url, "alerts", "ack", str(first))
    refused = subprocess.run(
        [sys.executable, "-m", "alpr", "alerts", "close", str(first), "--disposition", "confirmed"],
        capture_output=True,
        text=True,
        env={**os.environ, "ALPR_DATABASE_URL": database_url},
        timeout=60,
    )
    assert refused.returncode == 2 and "checklist" in refused.stderr
    out = alpr(
        database_url,
        "alerts",
        "close",
        str(first),
        "--disposition",
        "confirmed",
        "--image-matches",
        "--region-matches",
        "--entry-active",
        "--note",
        "stopped",
    )
    assert "closed: confirmed" in out
    now = datetime.now(UTC)
    window = ["--since", (now - timedelta(days=1)).isoformat(), "--until", now.isoformat()]
    text = alpr(database_url, "alerts", "report", *window, "--format", "csv")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["hotlist"] == "cli-alerts"]
    assert sorted((r["reason"], r["status"], r["disposition"]) for r in rows) == [
        ("amber", "new", ""),
        ("stolen", "closed", "confirmed"),
    ]
    assert "CLI00" not in text
    as_json = json.loads(alpr(database_url, "alerts", "report", *window, "--format", "json"))
    assert {r["hotlist"] for r in as_json} >= {"cli-alerts"}
    operations = await pool.fetch(
        "SELECT operation FROM audit_log WHERE operation LIKE 'cli alerts%' OR operation LIKE"
        " 'alert.%' ORDER BY audit_id"
    )
    assert [r["operation"] for r in operations] == [
        "cli alerts list",
        "cli alerts show",
        "alert.acknowledge",
        "alert.close",
    ]
