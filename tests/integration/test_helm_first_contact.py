"""First contact: the README's Kubernetes sequence — `make images push`, `helm install` with
its values, `kubectl apply` of the example — names the same images at every step, pulls them
with the secrets given, and alerts link to an absolute runbook."""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Any

import pytest
import yaml

import aivc
from tests.integration.chart_render import CHART, ROOT, VARIANTS, one, render

REGISTRY = "registry.example.com/team"


def make_dry_run(*args: str) -> list[str]:
    """The commands `make -n` would run (nothing runs; no Docker needed)."""
    proc = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.splitlines()


def built_and_pushed(*args: str) -> tuple[set[str], set[str]]:
    lines = make_dry_run(*args)
    built = {m[1] for line in lines if (m := re.search(r"docker build .*-t (\S+)", line))}
    pushed = {m[1] for line in lines if (m := re.match(r"docker push (\S+)", line))}
    return built, pushed


def images(values: dict[str, Any]) -> tuple[str, str]:
    """(operator pod image, sandbox image a Campaign gets by default) of a rendered chart."""
    objs = render(values)
    operator = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    return operator, _campaign_spec(objs)["sandbox"]["properties"]["image"]["default"]


def _campaign_spec(objs: list[dict[str, Any]]) -> dict[str, Any]:
    crd = next(o for o in objs if o["kind"] == "CustomResourceDefinition"
               and o["spec"]["names"]["kind"] == "Campaign")
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                ["properties"])


def readme_kubernetes_commands() -> list[str]:
    """Every shell command of the README's Kubernetes section, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    indented = "\n".join(line[4:] for line in section.splitlines() if line.startswith("    "))
    return [c.strip() for c in indented.replace("\\\n", " ").splitlines() if c.strip()]


def test_the_default_tag_is_the_released_version_everywhere() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == aivc.__version__
    built, _ = built_and_pushed("images")
    assert built == {f"aivc-operator:{aivc.__version__}", f"aivc-sandbox:{aivc.__version__}"}
    assert images({}) == tuple(sorted(built))


def test_make_images_and_push_name_exactly_what_the_chart_pulls_from_a_registry() -> None:
    built, pushed = built_and_pushed("images", "push", f"REGISTRY={REGISTRY}", "TAG=1.2.3")
    assert built == pushed == {f"{REGISTRY}/aivc-operator:1.2.3", f"{REGISTRY}/aivc-sandbox:1.2.3"}
    rendered = images({"imageRegistry": REGISTRY,
                       "operator": {"image": {"tag": "1.2.3"}},
                       "sandbox": {"image": {"tag": "1.2.3"}}})
    assert rendered == tuple(sorted(built))


def test_make_push_without_a_registry_says_what_to_set() -> None:
    proc = subprocess.run(["make", "--no-print-directory", "push"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "set REGISTRY" in proc.stdout + proc.stderr


def test_the_readme_sequence_builds_pushes_and_installs_the_same_images() -> None:
    commands = readme_kubernetes_commands()
    make = next(c for c in commands if c.startswith("make images"))
    args = shlex.split(make)[1:]
    assert "push" in args, "the README must push what it builds"
    built, pushed = built_and_pushed(*args)
    install = next(c for c in commands if c.startswith("helm install"))
    words = shlex.split(install)
    values: dict[str, Any] = {}
    for key, value in (w.split("=", 1) for i, w in enumerate(words) if words[i - 1] == "--set"):
        _set(values, key, value)
    assert values.get("imageRegistry"), "the install line must point the chart at the registry"
    registry = next(a.split("=", 1)[1] for a in args if a.startswith("REGISTRY="))
    assert values["imageRegistry"] == registry
    assert set(images(values)) == built == pushed


def _set(values: dict[str, Any], dotted: str, value: str) -> None:
    """`helm --set a.b={x,y}` in the few shapes the README uses."""
    *parents, last = dotted.split(".")
    for key in parents:
        values = values.setdefault(key, {})
    values[last] = value.strip("{}").split(",") if value.startswith("{") else value


def test_the_readme_creates_the_secret_and_namespace_the_example_needs() -> None:
    commands = " ".join(readme_kubernetes_commands())
    example = yaml.safe_load((ROOT / "examples" / "campaign.yaml").read_text())
    secret = example["spec"]["llm"]["apiKeySecret"]["name"]
    assert re.search(rf"-n research create secret generic {secret} ", commands)
    assert "kubectl -n research apply -f examples/campaign.yaml" in commands
    assert "watchNamespaces='{research}'" in commands


def test_the_example_campaign_leaves_image_and_node_pool_to_the_cluster() -> None:
    text = (ROOT / "examples" / "campaign.yaml").read_text()
    sandbox = yaml.safe_load(text)["spec"]["sandbox"]
    assert "image" not in sandbox, "the chart's default (the pushed image) must apply"
    assert "nodeSelector" not in sandbox, "GPU pool labels differ per cluster"
    for line in text.splitlines():
        if re.search(r"nodeSelector|tolerations|runtimeClassName", line):
            block = text[:text.index(line)].rsplit("\n", 4)[-4:]
            assert any("CLUSTER-SPECIFIC" in b for b in [line, *block]), line


def test_pull_secrets_reach_the_operator_pod_and_become_the_sandbox_default() -> None:
    values = {"imagePullSecrets": [{"name": "regcred"}]}
    objs = render(values)
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert _campaign_spec(objs)["sandbox"]["properties"]["imagePullSecrets"]["default"] == \
        [{"name": "regcred"}]
    assert "imagePullSecrets" not in one(render(), "Deployment")["spec"]["template"]["spec"]


def test_a_pull_secret_without_a_name_is_refused_naming_the_key() -> None:
    from tests.integration.chart_render import render_error

    assert "imagePullSecrets" in render_error({"imagePullSecrets": ["regcred"]})


@pytest.mark.parametrize("base", ["https://wiki.example.com/aivc/runbook",
                                  "https://wiki.example.com/aivc/runbook/"])
def test_alert_runbook_links_are_absolute_under_the_chart_value(base: str) -> None:
    values = {**VARIANTS["monitoring"]}
    values["metrics"] = {**values["metrics"], "prometheusRule": {
        **values["metrics"]["prometheusRule"], "runbookBaseURL": base}}
    rule = one(render(values), "PrometheusRule")
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    sections = {h.strip().lower() for h in re.findall(r"^## (.+)$", runbook, re.M)}
    links = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert links
    for link in links:
        page, _, section = link.partition("#")
        assert page == base.rstrip("/") and section in sections, link


def test_the_default_runbook_base_is_the_one_the_repository_rules_carry() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    base = values["metrics"]["prometheusRule"]["runbookBaseURL"]
    assert base.startswith("https://")
    rules = yaml.safe_load((ROOT / "grafana" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["annotations"]["runbook_url"].startswith(base + "#")

