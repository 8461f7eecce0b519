"""Read the Grafana boards and alert rules in `grafana/` as data: panels, queries, rules.

The integration tests evaluate every query against a real Prometheus and the snapshot
renderer draws the boards' panels, so both need the boards' PromQL with Grafana's template
variables filled in the way Grafana would. This module is that one reading.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

GRAFANA_DIR = Path(__file__).resolve().parents[3] / "grafana"
"""`grafana/` of the source checkout (the boards are data files, not package data)."""

BOARD_FILES = ("campaign.json", "sandbox-operator.json")
RULE_FILE = "alerts.yaml"
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_SELECTOR = re.compile(r"\b(up|aivc_\w+)\s*(\{[^{}]*\})?")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    board: str
    panel_id: int
    title: str
    panel_type: str
    ref_id: str
    expr: str
    legend: str
    instant: bool


@dataclass(frozen=True)
class Rule:
    group: str
    name: str  # the alert's name, or the recording rule's
    expr: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def load_board(name: str, directory: Path = GRAFANA_DIR) -> dict[str, Any]:
    return dict(json.loads((directory / name).read_text()))


def boards(directory: Path = GRAFANA_DIR) -> dict[str, dict[str, Any]]:
    return {name: load_board(name, directory) for name in BOARD_FILES}


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def queries(name: str, board: Mapping[str, Any]) -> list[PanelQuery]:
    return [PanelQuery(name, int(p["id"]), str(p.get("title", "")), str(p.get("type", "")),
                       str(t.get("refId", "")), str(t["expr"]), str(t.get("legendFormat", "")),
                       bool(t.get("instant")) and not t.get("range"))
            for p in panels(board) for t in p.get("targets") or [] if t.get("expr")]


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Replace `$name`, `${name}`, `${name:fmt}` and `[[name]]` the way Grafana does for a
    single-valued variable; unknown variables are left in place for the caller to catch."""
    def value(m: re.Match[str]) -> str:
        key = next(g for g in m.groups() if g)
        return variables.get(key, m.group(0))
    return _VARIABLE.sub(value, expr)


def grafana_variables(campaign: str, range_seconds: float, *, namespace: str = "local",
                      rate_interval: str = "15s", interval: str = "5s") -> dict[str, str]:
    """What Grafana would put in for one campaign over a time range of `range_seconds`;
    `namespace` is its `campaign_namespace` (`local` for the `aivc run` campaigns the tests
    and snapshots scrape)."""
    span = max(1, round(range_seconds))
    return {"campaign": campaign, "namespace": namespace, "__rate_interval": rate_interval,
            "__interval": interval, "__range": f"{span}s", "__range_s": str(span),
            "__range_ms": str(span * 1000)}


def rules(directory: Path = GRAFANA_DIR) -> list[Rule]:
    doc = yaml.safe_load((directory / RULE_FILE).read_text())
    return [Rule(g["name"], str(r.get("alert") or r.get("record")), str(r["expr"]),
                 dict(r.get("labels") or {}), dict(r.get("annotations") or {}))
            for g in doc["groups"] for r in g["rules"]]


def selectors(expr: str) -> list[str]:
    """The instant-vector selectors an expression reads (`up{...}`, `aivc_...{...}`),
    without range brackets or functions: each must find series for the expression to mean
    anything."""
    found = [m.group(1) + (m.group(2) or "") for m in _SELECTOR.finditer(expr)]
    return list(dict.fromkeys(found))
