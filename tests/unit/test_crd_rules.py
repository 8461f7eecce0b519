"""What the Campaign CRD refuses before the operator ever sees it: resource quantities in the
Kubernetes syntax, upper bounds on budgets and clip lists, and immutable fields (CEL
transition rules, compiled and evaluated here with cel-python as the API server would)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import celpy
import pytest

from aivc.api import quantities
from aivc.api.crds import crd, schema
from aivc.api.spec import CampaignSpec, ManifestError, validate

QUANTITY_FIELDS = ("cpu", "memory", "workDirSizeLimit")
IMMUTABLE = ("spec.dataset", "spec.evaluation", "spec.baseCodec", "spec.goal.anchor",
             "spec.planner", "spec.seed")
MUTABLE = ("spec.budget", "spec.parallelism", "spec.llm", "spec.sandbox", "spec.retries")


def campaign(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "aivc.dev/v1alpha1", "kind": "Campaign", "metadata": {"name": "c"},
            "spec": {"dataset": {"clips": ["carphone:8"]}, **spec}}


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from nodes(sub, f"{path}.{name}".lstrip("."))
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")


def node_at(path: str) -> dict[str, Any]:
    return dict(nodes(schema("Campaign")))[path]


def rules() -> list[tuple[str, dict[str, Any]]]:
    return [(path, rule) for path, node in nodes(schema("Campaign"))
            for rule in node.get("x-kubernetes-validations") or []]


# ---- quantities ------------------------------------------------------------------------


@pytest.mark.parametrize("field", QUANTITY_FIELDS)
def test_sandbox_quantities_are_int_or_string_with_the_kubernetes_pattern(field: str) -> None:
    node = node_at(f"spec.sandbox.{field}")
    assert node["x-kubernetes-int-or-string"] is True
    assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert node["pattern"] == quantities.QUANTITY


def test_memory_4gb_is_refused_naming_the_field_and_the_syntax() -> None:
    with pytest.raises(ManifestError, match=r"^spec\.sandbox\.memory: '4GB' is not a Kubernetes quantity"):
        validate(campaign(sandbox={"memory": "4GB"}), "Campaign")


@pytest.mark.parametrize("bad", ["2 cores", "-1", "1.5.2", "4gi", "", "0x10"])
def test_cpu_strings_that_are_not_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ManifestError, match=r"spec\.sandbox\.cpu"):
        validate(campaign(sandbox={"cpu": bad}), "Campaign")


def test_a_bare_number_of_cpus_works_and_reaches_the_pod_as_a_string() -> None:
    spec = CampaignSpec.from_manifest(campaign(sandbox={"cpu": 2, "memory": 4294967296}))
    assert (spec.sandbox.cpu, spec.sandbox.memory) == ("2", "4294967296")


def test_a_fractional_number_must_be_quoted_as_on_the_api_server() -> None:
    with pytest.raises(ManifestError, match=r'quote a fraction: "1.5"'):
        validate(campaign(sandbox={"cpu": 1.5}), "Campaign")


@pytest.mark.parametrize(("text", "value"), [
    ("2", 2), ("500m", Decimal("0.5")), ("1.5", Decimal("1.5")), ("4Gi", 4 << 30),
    ("512Mi", 512 << 20), ("1G", 10**9), ("1e3", 1000), ("1E-3", Decimal("0.001")),
    (".5", Decimal("0.5")), ("2Ki", 2048), ("100n", Decimal("1e-7")), ("3", 3),
])
def test_quantities_read_as_the_api_server_reads_them(text: str, value: Any) -> None:
    assert quantities.parse(text) == Decimal(value)


def test_cpus_and_bytes_round_the_way_the_sandbox_needs() -> None:
    assert [quantities.cpu_count(q) for q in ("500m", "1.5", "2", "2Ki", 3)] == [1, 1, 2, 2048, 3]
    assert quantities.byte_count("1.5Ki") == 1536 and quantities.byte_count("1m") == 1


def test_every_shape_the_pattern_admits_parses() -> None:
    numbers = ["0", "7", "12.", "3.25", ".5"]
    suffixes = ["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "T", "P",
                "E", "e3", "E+2", "e-1", "e.5", "e1.5"]
    for text in (n + s for n in numbers for s in suffixes):
        assert re.match(quantities.QUANTITY, text), text
        quantities.parse(text)  # no QuantityError for anything the schema lets through


def test_a_non_quantity_is_a_quantity_error() -> None:
    with pytest.raises(quantities.QuantityError, match="4GB"):
        quantities.parse("4GB")


# ---- bounds ---------------------------------------------------------------------------------


def test_experiments_and_clip_lists_have_upper_bounds() -> None:
    assert node_at("spec.budget.maxExperiments")["maximum"] == 10000
    for path in ("spec.dataset.clips", "spec.dataset.heldOut"):
        assert node_at(path)["maxItems"] == 32
        assert node_at(f"{path}[]")["maxLength"] == 256
    with pytest.raises(ManifestError, match=r"spec\.budget\.maxExperiments"):
        validate(campaign(budget={"maxExperiments": 10001}), "Campaign")
    with pytest.raises(ManifestError, match=r"spec\.dataset\.clips"):
        validate(campaign(dataset={"clips": ["carphone:4"] * 33}), "Campaign")
    validate(campaign(budget={"maxExperiments": 10000}, dataset={"clips": ["carphone:4"] * 32}),
             "Campaign")


# ---- immutability: CEL transition rules --------------------------------------------------------


def test_the_fields_that_make_numbers_comparable_carry_a_transition_rule() -> None:
    transition = {path for path, rule in rules() if "oldSelf" in rule["rule"]}
    assert transition == set(IMMUTABLE)
    for path, rule in rules():
        if path in IMMUTABLE:
            assert rule["rule"] == "self == oldSelf"
            assert rule["message"].startswith(f"{path} is immutable: ")


def test_budgets_parallelism_and_placement_stay_mutable() -> None:
    for path, _ in rules():
        assert not any(path == m or path.startswith(m + ".") for m in MUTABLE), path
        assert not any(m.startswith(path + ".") for m in MUTABLE) or path == "", path


def test_what_the_rules_compare_is_bounded_so_their_cost_estimate_is_too() -> None:
    """The API server refuses a CRD whose rules' estimated cost is unbounded: every list
    and string under an immutable field has a size limit."""
    unbounded = [f"{root}:{path}" for root in IMMUTABLE
                 for path, node in nodes(node_at(root), root)
                 if (node.get("type") == "array" and "maxItems" not in node)
                 or (node.get("type") == "string" and "maxLength" not in node)]
    assert unbounded == []


def test_every_cel_rule_compiles() -> None:
    env = celpy.Environment()
    all_rules = [rule for _, rule in rules()]
    all_rules += crd("Campaign")["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "x-kubernetes-validations"]
    assert len(all_rules) >= len(IMMUTABLE) + 1
    for rule in all_rules:
        env.program(env.compile(rule["rule"]))


def violations(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The messages of the transition rules an update from `old` to `new` breaks, evaluated
    where the API server evaluates them: at each node present in both versions."""
    env = celpy.Environment()
    out = []
    for path, rule in rules():
        if "oldSelf" not in rule["rule"]:
            continue
        before, after = _at(old, path), _at(new, path)
        if before is None or after is None:
            continue
        program = env.program(env.compile(rule["rule"]))
        verdict = program.evaluate({"self": celpy.json_to_cel(after),
                                    "oldSelf": celpy.json_to_cel(before)})
        if not bool(verdict):
            out.append(str(rule["message"]))
    return out


def _at(doc: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


@pytest.mark.parametrize(("field", "change"), [
    ("spec.dataset", {"dataset": {"clips": ["bikes:8"]}}),
    ("spec.evaluation", {"evaluation": {"adoptionMargin": 0.1}}),
    ("spec.baseCodec", {"baseCodec": "inter-dct"}),
    ("spec.goal.anchor", {"goal": {"anchor": "x265"}}),
    ("spec.planner", {"planner": "llm"}),
    ("spec.seed", {"seed": 7}),
])
def test_editing_an_immutable_field_is_refused_with_its_message(field: str, change: dict[str, Any]) -> None:
    old = validate(campaign(), "Campaign")
    new = copy.deepcopy(old)
    for key, value in change.items():
        new["spec"][key] = {**new["spec"][key], **value} if isinstance(value, dict) else value
    assert [m.split(" is immutable")[0] for m in violations(old, new)] == [field]


def test_raising_the_budget_and_parallelism_is_allowed() -> None:
    old = validate(campaign(), "Campaign")
    new = copy.deepcopy(old)
    new["spec"]["budget"].update(maxExperiments=200, maxCostUSD=100)
    new["spec"]["parallelism"] = 8
    new["spec"]["sandbox"]["memory"] = "16Gi"
    assert violations(old, new) == []


def test_local_mode_validates_with_the_rules_in_the_schema_and_ignores_them() -> None:
    """jsonschema does not know `x-kubernetes-validations`; local mode has no old version of
    a Campaign to compare with, so the rules are the API server's alone."""
    doc = validate(campaign(seed=3, planner="search"), "Campaign")
    assert doc["spec"]["seed"] == 3
