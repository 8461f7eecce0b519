"""The Helm chart's copies of CRDs, boards, alert rules and RBAC rules never drift from their
single sources (tools/sync_chart.py)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from aivc.kube.permissions import Permission

ROOT = Path(__file__).resolve().parents[2]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart", ROOT / "tools" / "sync_chart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_chart = _load_tool()


PERMS = [Permission("batch", "jobs", ("watch", "create", "get", "list"), "namespace", "sandbox Jobs"),
         Permission("", "namespaces", ("list", "watch"), "cluster", "kopf", when="namespaced")]
RULES = ("groups:\n  - name: aivc\n    rules:\n      - alert: A\n        expr: up == 0\n")


def test_chart_copies_match_their_sources() -> None:
    assert sync_chart.drift() == [], "run: .venv/bin/python tools/sync_chart.py"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A small repository: sources in crds/ and grafana/, and a chart in sync with them."""
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "campaign.yaml").write_text("kind: CustomResourceDefinition\n")
    (tmp_path / "grafana").mkdir()
    (tmp_path / "grafana" / "campaign.json").write_text('{"title": "Campaign"}\n')
    (tmp_path / "grafana" / "alerts.yaml").write_text(RULES)
    (tmp_path / "grafana" / "alerts.test.yaml").write_text("rule_files: [alerts.yaml]\ntests: []\n")
    sync_chart.sync(tmp_path, PERMS)
    return tmp_path


def _chart(tree: Path, rel: str) -> Path:
    return tree / "helm" / "aivc" / rel


def test_sync_copies_crds_boards_and_rule_files_but_not_promtool_tests(tree: Path) -> None:
    assert _chart(tree, "files/crds/campaign.yaml").read_text() == "kind: CustomResourceDefinition\n"
    assert _chart(tree, "files/dashboards/campaign.json").exists()
    assert _chart(tree, "files/rules/alerts.yaml").read_text() == RULES
    assert not _chart(tree, "files/rules/alerts.test.yaml").exists()
    assert sync_chart.drift(tree, PERMS) == []


def test_an_edited_copy_is_reported_and_restored(tree: Path) -> None:
    copy = _chart(tree, "files/crds/campaign.yaml")
    copy.write_text("kind: Hacked\n")
    assert sync_chart.drift(tree, PERMS) == ["differs from its source: helm/aivc/files/crds/campaign.yaml"]
    sync_chart.sync(tree, PERMS)
    assert copy.read_text() == "kind: CustomResourceDefinition\n"


def test_a_new_board_is_missing_until_synced(tree: Path) -> None:
    (tree / "grafana" / "health.json").write_text("{}\n")
    assert sync_chart.drift(tree, PERMS) == ["missing: helm/aivc/files/dashboards/health.json"]


def test_a_board_removed_from_grafana_is_removed_from_the_chart(tree: Path) -> None:
    (tree / "grafana" / "campaign.json").unlink()
    assert sync_chart.drift(tree, PERMS) == ["stale (no source): helm/aivc/files/dashboards/campaign.json"]
    sync_chart.sync(tree, PERMS)
    assert not _chart(tree, "files/dashboards/campaign.json").exists()


def test_rbac_rules_follow_the_operator_permissions(tree: Path) -> None:
    rules = yaml.safe_load(_chart(tree, "files/rbac-rules.yaml").read_text())
    jobs = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch"]}
    namespaces = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}
    assert rules["namespaced"] == {"role": [jobs], "clusterRole": [namespaces]}
    assert rules["clusterwide"] == {"role": [], "clusterRole": [jobs]}, "namespaces only when namespaced"
    grown = [*PERMS, Permission("", "configmaps", ("create",), "namespace", "codec source")]
    assert sync_chart.drift(tree, grown) == ["differs from its source: helm/aivc/files/rbac-rules.yaml"]


def test_check_mode_fails_on_drift_and_says_how_to_fix_it(tree: Path, monkeypatch: Any,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sync_chart, "ROOT", tree)
    monkeypatch.setattr(sync_chart, "_required_permissions", lambda: PERMS)
    assert sync_chart.main(["--check"]) == 0
    shutil.rmtree(tree / "helm" / "aivc" / "files" / "rules")
    assert sync_chart.main(["--check"]) == 1
    assert "tools/sync_chart.py" in capsys.readouterr().err
