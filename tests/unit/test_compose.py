"""The production stack's files: docker-compose.yml validated by `docker compose
config` (no engine needed), its shape checked, and the monitoring it mounts.

`scripts/install-compose.sh` (run by `make test`) provides the Compose v2
plugin; without it the engine check is skipped, the structural ones still run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"ALPR_DB_PASSWORD": "test-secret", "GRAFANA_ADMIN_PASSWORD": "test-grafana"}
LONG_RUNNING = ("timescaledb", "kafka", "ingestor", "gateway", "prometheus", "grafana")


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


needs_compose = pytest.mark.skipif(
    not _compose_available(), reason="docker compose plugin missing: scripts/install-compose.sh"
)


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(Path.home()), **env},
        cwd=ROOT,
        check=False,
        timeout=60,
    )


@needs_compose
def test_compose_config_is_valid_and_resolves() -> None:
    done = _config(SECRETS)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    services = config["services"]
    assert set(LONG_RUNNING) | {"migrate", "postgres-exporter"} <= set(services)
    assert services["ingestor"]["environment"]["ALPR_DB_PASSWORD"] == "test-secret"
    assert services["ingestor"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert services["kafka"]["image"].startswith("apache/kafka:")
    # The performance settings reach PostgreSQL's command line.
    assert "shared_buffers=256MB" in services["timescaledb"]["command"]


@needs_compose
def test_compose_refuses_to_start_without_secrets() -> None:
    done = _config({})
    assert done.returncode != 0
    assert "ALPR_DB_PASSWORD" in done.stderr


def _raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_every_long_running_service_has_healthcheck_and_restart() -> None:
    services = _raw()["services"]  # YAML merge keys resolve the shared anchors
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "on-failure"


def test_state_lives_in_named_volumes() -> None:
    raw = _raw()
    declared = set(raw["volumes"])
    for name in ("timescaledb", "kafka", "prometheus", "grafana"):
        mounts = raw["services"][name]["volumes"]
        named = {m.split(":")[0] for m in mounts if not m.startswith("./")}
        assert named, f"{name} keeps its state in no named volume"
        assert named <= declared, name


def test_no_secret_has_a_default() -> None:
    text = COMPOSE.read_text()
    assert "alpr_secure_pass" not in text
    assert "${ALPR_DB_PASSWORD:?" in text
    assert "${GRAFANA_ADMIN_PASSWORD:?" in text


def test_mounted_monitoring_files_exist_and_parse() -> None:
    raw = _raw()
    for service in ("prometheus", "grafana"):
        for mount in raw["services"][service]["volumes"]:
            if mount.startswith("./"):
                assert (ROOT / mount.split(":")[0]).exists(), mount
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert {"alpr-ingestor", "alpr-gateway", "alpr-alerts", "postgres"} <= jobs


def test_dashboard_covers_the_operator_essentials() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/alpr.json").read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    titles = {panel["title"] for panel in dashboard["panels"]}
    for wanted in ("Ingest rate", "Consumer lag", "Batch latency", "Database size"):
        assert any(wanted in title for title in titles), wanted
    for metric in (
        "pg_database_size_bytes",
        "_lag",
        "dead_lettered",
        "subscribers",
        "route",
        "alpr_alerts_alert_latency_seconds",
        "alpr_alerts_webhook_latency_seconds",
        "alpr_alerts_webhook_failures",
    ):
        assert metric in exprs, metric
    # Every alpr_* series the dashboard asks for is one the code exports.
    exported = "".join(
        (ROOT / f"{process}/metrics.py").read_text()
        for process in ("ingestor", "gateway", "alerts")
    )
    for name in set(re.findall(r"alpr_[a-z_]+", exprs)):
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert f'"{base}"' in exported, name
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    datasource_uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource_uids == {ds["uid"] for ds in provisioned["datasources"]}
