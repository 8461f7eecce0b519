"""values.yaml: every key carries a comment, and every key changes what the chart renders
(no decorative keys)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from tests.integration.chart_render import CHART, HelmError, render_text

KEY = re.compile(r"^(\s*)([A-Za-z][\w.-]*):")
EVERYTHING_ON: dict[str, Any] = {
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "git": {"mode": "remote", "remote": {"url": "https://git.example.com/codecs.git",
                                         "credentialsSecret": {"name": "aivc-git"}}},
    "llm": {"apiKeySecret": {"name": "anthropic"}},
}
"""Values under which every key is live (monitoring on, a remote with credentials, a key)."""


def test_every_key_in_values_has_a_comment() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        match = KEY.match(line)
        if not match:
            continue
        above = lines[i - 1].strip() if i else ""
        if not above.startswith("#"):
            missing.append(f"line {i + 1}: {match[2]}")
    assert not missing, f"keys without a comment above them: {missing}"


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) and value else value
    return out


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, list):
        return ["changed-x"]
    if isinstance(value, dict):
        return {"changed": "x"}
    return "changed-x"


def _output(values: dict[str, Any]) -> str:
    try:
        return render_text(values)
    except HelmError as exc:
        return f"refused: {exc}"


@pytest.mark.slow
def test_every_key_in_values_changes_the_rendered_chart() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    base = _merge(defaults, EVERYTHING_ON)
    baseline = _output(base)
    assert not baseline.startswith("refused"), baseline
    paths = list(_leaves(defaults))
    with ThreadPoolExecutor(max_workers=4) as pool:  # each render is its own helm process
        outputs = list(pool.map(lambda path: _output(_with_changed(base, path)), paths))
    dead = [".".join(path) for path, out in zip(paths, outputs, strict=True) if out == baseline]
    assert not dead, f"values that change nothing: {dead}"


def _with_changed(base: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    values = copy.deepcopy(base)
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _changed(node[path[-1]])
    return values
