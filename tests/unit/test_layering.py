"""The package's layers depend one way, and the running system carries no test tooling.

`aivc.api` is the bottom (names, vocabularies, typed documents); `observe` is a leaf that
knows only the API; no two subpackages import each other, even through a function-level
import; `aivc operator` and `aivc run` load neither kmock nor matplotlib nor the test and
bench tooling (the report imports matplotlib when it is written, not before).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "aivc"
TOP_LEVEL = {"errors", "settings", "cli", "__init__"}
"""Single modules at the top of the package that every layer may use (no subpackage)."""


def subpackage_imports() -> dict[str, dict[str, list[str]]]:
    """subpackage → imported subpackage → the files that import it (every import statement)."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue
        source = parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "aivc":
                    names = [f"aivc.{a.name}" for a in node.names]
                elif node.module.startswith("aivc."):
                    names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("aivc.")]
            for name in names:
                target = name.split(".")[1]
                if target != source and target not in TOP_LEVEL and (PACKAGE / target).is_dir():
                    edges[source][target].append(str(path.relative_to(PACKAGE)))
    return edges


def find_cycle(edges: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_subpackages():
    edges = subpackage_imports()
    cycle = find_cycle(edges)
    if cycle:
        hops = [f"{a} -> {b} ({edges[a][b][0]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        pytest.fail("import cycle: " + "; ".join(hops))


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}}) == ["a", "b", "c", "a"]


def test_the_api_is_the_bottom_and_observe_a_leaf():
    edges = subpackage_imports()
    assert dict(edges.get("api", {})) == {}
    assert set(edges.get("observe", {})) <= {"api"}
    assert set(edges.get("store", {})) <= {"api"}


def test_the_kubernetes_store_lives_under_kube():
    assert not (PACKAGE / "store" / "kube.py").exists() and (PACKAGE / "kube" / "store.py").exists()


@pytest.mark.parametrize("entry", ["aivc.commands.operator", "aivc.kube.running", "aivc.cli",
                                   "aivc.research.local"])
def test_the_running_system_loads_no_test_tooling(entry: str):
    code = (f"import sys, json, {entry}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('kmock', 'matplotlib') or m.startswith(('aivc.testing', 'aivc.bench', 'aivc.boards')))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_document_keys_and_verdicts_are_spelled_only_in_the_api_layer():
    """Code above `aivc.api` works with typed documents; a CR key or a verdict spelled as a
    string elsewhere would drift from the (de)serialisation layer."""
    from aivc.api import documents

    distinctive = {k for k in (*documents.STATUS_KEYS.values(), *documents.CAMPAIGN_STATUS_KEYS)
                   if any(ch.isupper() for ch in k)}
    distinctive |= {"perClip", "notScored", "heldOut", "bdRate", "bdRateVsBest", "psnrY", "ssimY",
                    "encodeFps", "decodeFps", "needsHuman", "wallSeconds", "appliedAt",
                    "parentVersion", "configMapRef", "Adopted", "Rejected", "Skipped", "NeedsHuman"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("api", "testing"):  # the API layer; Kubernetes' own Job/Pod keys
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in distinctive:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert found == []
