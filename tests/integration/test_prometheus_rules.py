"""The alert rules under Debian's real promtool: they parse, and their unit tests pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from aivc.boards import dashboards
from tests.fakes.prometheus import require_binaries

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require_binaries("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                          cwd=GRAFANA, check=False)


def test_promtool_accepts_the_rule_file() -> None:
    done = promtool("check", "rules", "alerts.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(dashboards.rules())} rules found" in done.stdout


def test_promtool_unit_tests_of_every_alert_pass() -> None:
    done = promtool("test", "rules", "alerts.test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_each_alert_has_a_case_where_it_fires_and_one_where_it_stays_silent() -> None:
    doc = yaml.safe_load((GRAFANA / "alerts.test.yaml").read_text())
    fires: set[str] = set()
    silent: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {r.name for r in dashboards.rules()}
    assert fires == alerts
    assert silent == alerts
