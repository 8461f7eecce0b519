"""The CRDs in crds/: structural schemas, printer columns, and manifests they accept or refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from aivc.api.crds import crd, schema
from aivc.api.documents import ExperimentStatus, experiment_status_json
from aivc.api.spec import ManifestError, validate
from aivc.kube.memo import MAX_CAMPAIGN_NAME, OperatorMemo
from aivc.kube.settings import OperatorConfig
from aivc.store.base import merge_patch, new_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))
KINDS = ("Campaign", "Experiment")


def _nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, sub in (node.get("properties") or {}).items():
        out += _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        out += _nodes(node["items"], f"{path}[]")
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_their_crd(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    validate(doc, doc["kind"])


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_manifests_are_refused_with_a_message_naming_the_field(path: Path) -> None:
    text = path.read_text()
    expected = text.splitlines()[0].removeprefix("# expect:").strip()
    doc = yaml.safe_load(text)
    with pytest.raises(ManifestError) as caught:
        validate(doc, doc["kind"])
    message = str(caught.value)
    named = message.split(":")[0]
    if "is a required property" in message:
        named += "." + message.split("'")[1]
    assert named == expected, message


@pytest.mark.parametrize("kind", KINDS)
def test_crds_are_valid_and_structural(kind: str) -> None:
    kubernetes_validate.validate(crd(kind), "1.30", strict=True)
    untyped = [path for path, node in _nodes(schema(kind))
               if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields")
               and not node.get("x-kubernetes-int-or-string")]
    assert untyped == []
    for path, node in _nodes(schema(kind)):
        if node.get("x-kubernetes-int-or-string"):  # the one shape a structural schema allows
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path


@pytest.mark.parametrize(("kind", "columns", "short"), [
    ("Experiment", ["Campaign", "Phase", "Version", "BD-Rate", "kbps", "PSNR-YUV", "Verdict", "Age"], "exp"),
    ("Campaign", ["Phase", "Experiments", "Best", "BD-Rate", "Human-Needed", "Cost", "Age"], "camp"),
])
def test_crds_serve_status_short_names_and_the_printer_columns(kind: str, columns: list[str],
                                                                short: str) -> None:
    doc = crd(kind)
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert short in doc["spec"]["names"]["shortNames"]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == columns
    declared = {path for path, _ in _nodes(schema(kind))}
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith((".spec", ".status")):
            assert column["jsonPath"] in declared, column


def test_experiments_as_campaigns_create_them_validate() -> None:
    doc = new_document("Experiment", "demo-0001", {"campaign": "demo", "sequence": 1})
    validate({**doc, "metadata": {"name": "demo-0001"}}, "Experiment")


def test_the_status_the_operator_writes_fits_the_experiment_schema() -> None:
    status = {**experiment_status_json(ExperimentStatus()), "phase": "Succeeded", "verdict": "Adopted",
              "version": 2, "versionName": "v2", "generation": 1, "resultsSource": "log",
              "results": {"mode": "evaluate", "levels": []}, "jobs": {"execution": "x-run1"},
              "decision": {"decision": "adopt", "note": None, "by": "kubectl-annotate",
                           "at": "2026-01-01T00:00:00Z", "appliedAt": "2026-01-01T00:00:01Z"},
              "conditions": [{"type": "Executed", "status": "True", "reason": "Measured",
                              "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    status = merge_patch({}, status)  # what the API server stores: nulls delete keys
    node = schema("Experiment")["properties"]["status"]
    jsonschema.Draft7Validator(node).validate(status)


def test_long_campaign_names_are_refused_by_the_operator_too() -> None:
    memo = OperatorMemo(OperatorConfig(peering=None))
    doc = {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign",
           "metadata": {"name": "c" * (MAX_CAMPAIGN_NAME + 1), "uid": "u", "generation": 1},
           "spec": {"dataset": {"clips": ["carphone:4"]}}}
    with pytest.raises(ManifestError, match="metadata.name"):
        memo.context("default", doc["metadata"]["name"], doc)
    rule = crd("Campaign")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert f"<= {MAX_CAMPAIGN_NAME}" in rule[0]["rule"]


@pytest.mark.parametrize("kind", ["Campaign", "Experiment"])
def test_every_field_of_the_crds_says_what_it_is_for(kind: str) -> None:
    def missing(node: dict, path: str) -> list[str]:
        out = [] if node.get("description") else [path or "(root)"]
        for name, sub in (node.get("properties") or {}).items():
            out += missing(sub, f"{path}.{name}")
        items = node.get("items")
        if isinstance(items, dict) and items.get("properties"):
            out += missing(items, f"{path}[]")
        return out

    assert missing(schema(kind), "") == []
