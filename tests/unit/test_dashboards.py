"""Static checks of the Grafana boards and alert rules in grafana/: layout, datasource,
variables, and that every series they read is one the metrics module exports."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from aivc.boards import dashboards
from aivc.observe import metrics

REPO = Path(__file__).resolve().parents[2]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BOARDS = dashboards.boards()
ALL_VARIABLES = dashboards.grafana_variables("some-campaign", 3600)
RUNBOOK_URL = yaml.safe_load((REPO / "helm" / "aivc" / "values.yaml").read_text())[
    "metrics"]["prometheusRule"]["runbookBaseURL"]
"""Absolute, so a link works from Alertmanager; the chart's value replaces it on a cluster."""


def exported_series() -> set[str]:
    names = {"up"}
    for m in vars(metrics).values():
        if isinstance(m, Counter):
            names.add(m._name + "_total")
        elif isinstance(m, Histogram):
            names.update(m._name + s for s in ("_bucket", "_sum", "_count"))
        elif isinstance(m, Gauge):
            names.add(m._name)
    return names


def labels_of(series: str) -> set[str]:
    base = re.sub(r"_(total|bucket|sum|count)$", "", series)
    for m in vars(metrics).values():
        if isinstance(m, Counter | Gauge | Histogram) and m._name == base:
            return set(m._labelnames) | ({"le"} if series.endswith("_bucket") else set())
    return {"job", "instance"}


def walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(path, node)] + [x for k, v in node.items() for x in walk(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in walk(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("name", dashboards.BOARD_FILES)
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in dashboards.panels(BOARDS[name])]
    assert len(ids) == len(set(ids)), sorted(ids)


@pytest.mark.parametrize("name", dashboards.BOARD_FILES)
def test_panels_fit_the_24_column_grid_without_overlapping(name: str) -> None:
    boxes = []
    for p in dashboards.panels(BOARDS[name]):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1, p["title"]
        assert g["x"] + g["w"] <= 24, p["title"]
        boxes.append((p["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for (a, ax0, ay0, ax1, ay1), (b, bx0, by0, bx1, by1) in combinations(boxes, 2):
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a!r} overlaps {b!r}"


@pytest.mark.parametrize("name", dashboards.BOARD_FILES)
def test_every_panel_and_query_uses_the_datasource_variable(name: str) -> None:
    for p in dashboards.panels(BOARDS[name]):
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, (p["title"], t["refId"])


@pytest.mark.parametrize("name", dashboards.BOARD_FILES)
def test_no_datasource_uid_is_hard_coded(name: str) -> None:
    for path, node in walk(BOARDS[name]):
        ds = node.get("datasource")
        if isinstance(ds, dict) and "uid" in ds:
            assert ds["uid"] == "${datasource}", path
        assert not isinstance(ds, str) or ds.startswith("$"), path


@pytest.mark.parametrize("name", dashboards.BOARD_FILES)
def test_the_board_has_a_prometheus_datasource_a_namespace_and_a_campaign_variable(name: str) -> None:
    board = BOARDS[name]
    assert 36 <= board["schemaVersion"] <= 41
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "campaign"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    namespace, campaign = variables["namespace"], variables["campaign"]
    op = "=~" if campaign["multi"] else "="
    assert namespace["multi"] == campaign["multi"]
    for variable in (namespace, campaign):
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE
        assert variable["query"]["query"] == variable["definition"]
    assert namespace["definition"] == "label_values(aivc_campaign_running, campaign_namespace)"
    assert campaign["definition"] == \
        f'label_values(aivc_campaign_running{{campaign_namespace{op}"$namespace"}}, campaign)'


@pytest.mark.parametrize("query", [q for n, b in BOARDS.items() for q in dashboards.queries(n, b)],
                         ids=lambda q: f"{q.board}:{q.panel_id}{q.ref_id}")
def test_every_query_of_one_campaign_names_its_namespace_too(query: dashboards.PanelQuery) -> None:
    """Campaign names repeat across namespaces: a selector on `campaign` alone mixes them."""
    for selector in dashboards.selectors(query.expr):
        if "$campaign" in selector:
            assert "campaign_namespace" in selector and "$namespace" in selector, selector


def test_llm_panels_of_the_campaign_board_follow_the_campaigns_model() -> None:
    llm = [q for q in dashboards.queries("campaign.json", BOARDS["campaign.json"])
           if "aivc_llm_" in q.expr]
    assert llm
    for query in llm:
        assert 'aivc_campaign_model_info{campaign_namespace="$namespace", campaign="$campaign"}' \
            in query.expr and "on (model)" in query.expr, query.title


def test_board_uids_are_distinct_and_stable() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    assert uids == ["aivc-campaign", "aivc-sandbox-operator"]


@pytest.mark.parametrize("query", [q for n, b in BOARDS.items() for q in dashboards.queries(n, b)],
                         ids=lambda q: f"{q.board}:{q.panel_id}{q.ref_id}")
def test_every_query_reads_exported_series_with_their_labels_and_known_variables(
        query: dashboards.PanelQuery) -> None:
    expr = dashboards.substitute(query.expr, ALL_VARIABLES)
    assert "$" not in expr, expr
    series = exported_series()
    for selector in dashboards.selectors(query.expr):
        name, _, matchers = selector.partition("{")
        assert name in series, f"{name} is not exported by aivc.observe.metrics"
        used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
        assert used <= labels_of(name), (name, used)
        if "campaign" in labels_of(name) and query.board == "campaign.json":
            assert 'campaign="$campaign"' in matchers, selector


def test_every_rule_reads_exported_series() -> None:
    series = exported_series()
    for rule in dashboards.rules():
        for selector in dashboards.selectors(rule.expr):
            assert selector.partition("{")[0] in series, (rule.name, selector)


def test_the_five_alerts_each_have_a_summary_a_description_and_a_runbook_section() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    headings = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbook, re.M)}
    alerts = [r for r in dashboards.rules()]
    assert {r.name for r in alerts} == {"HumanInterventionNeeded", "CampaignStalled",
                                        "SandboxFailureRateHigh", "LLMBudgetNearlyExhausted",
                                        "OperatorDown"}
    for rule in alerts:
        assert rule.annotations.get("summary") and rule.annotations.get("description"), rule.name
        assert rule.labels.get("severity") in {"info", "warning", "critical"}, rule.name
        url = rule.annotations["runbook_url"]
        assert url == f"{RUNBOOK_URL}#{rule.name.lower()}", url
        assert rule.name.lower() in headings, f"docs/runbook.md has no section for {rule.name}"


def test_variables_are_substituted_the_way_grafana_writes_them() -> None:
    expr = 'rate(x{campaign="$campaign", a="${campaign}", b="[[campaign]]"}[$__rate_interval]) $keep'
    assert dashboards.substitute(expr, {"campaign": "c1", "__rate_interval": "15s"}) == \
        'rate(x{campaign="c1", a="c1", b="c1"}[15s]) $keep'
