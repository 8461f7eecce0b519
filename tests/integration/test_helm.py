"""The Helm chart rendered by the real `helm`: lint, Kubernetes schemas, and what each piece
must do (operator flags and probes, CRD defaults, NetworkPolicy, monitoring, dashboards)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from aivc.cli import build_parser
from tests.integration.built_jobs import sandbox_jobs
from tests.integration.chart_render import (
    CHART,
    NAMESPACED,
    ROOT,
    VARIANTS,
    crd_schemas,
    is_schemaless,
    lint,
    of_kind,
    one,
    render,
    render_error,
    schema_errors,
)


def deployment(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return one(render(values), "Deployment")


def container(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return deployment(values)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_chart_lints_without_warnings(variant: str) -> None:
    assert "0 chart(s) failed" in lint(VARIANTS[variant])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_matches_its_schema(variant: str) -> None:
    objs = render(VARIANTS[variant])
    crds = crd_schemas(objs)
    checked = 0
    for obj in objs:
        if is_schemaless(obj):
            assert obj["kind"] in {"ServiceMonitor", "PrometheusRule"}, obj["kind"]
            continue
        errors = schema_errors(obj, crds)
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"
        checked += 1
    assert checked >= 8


def test_schema_check_rejects_a_misspelt_field() -> None:
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicey"] = "Always"
    assert schema_errors(dep, {})


def test_operator_arguments_parse_with_the_real_command_line() -> None:
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", (ROOT / "sandbox_image" / "Dockerfile.operator")
                           .read_text(), re.M)
    assert entrypoint and json.loads(entrypoint[1]) == ["/opt/venv/bin/aivc"]
    assert "command" not in container(), "the image's entrypoint (aivc) takes these args"
    args = container(NAMESPACED)["args"]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "operator"
    assert parsed.namespace == ["research", "team-b"]
    assert parsed.metrics_port == 9090 and parsed.liveness == "http://0.0.0.0:8080/healthz"
    assert not parsed.standalone and parsed.peering == "aivc"
    assert str(parsed.data_dir) == "/var/lib/aivc"
    assert build_parser().parse_args(container()["args"]).namespace == []


def test_probes_and_services_point_at_the_ports_the_operator_serves() -> None:
    objs = render({"metrics": {"serviceMonitor": {"enabled": True}}})
    c = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    svc = one(objs, "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    monitor = one(objs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert endpoint["relabelings"][0]["replacement"] == "aivc-operator"


def test_one_operator_is_active_at_a_time() -> None:
    objs = render()
    spec = one(objs, "Deployment")["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    peering = one(objs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "aivc"


def test_uninstall_is_checked_first_by_a_hook_that_runs_the_operators_check() -> None:
    from aivc.kube import uninstalling

    for values, namespaces in (({}, []), (NAMESPACED, ["research", "team-b"])):
        objs = render(values)
        job = one(objs, "Job")
        notes = job["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "pre-delete"
        assert "hook-succeeded" in notes["helm.sh/hook-delete-policy"]
        pod = job["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == one(objs, "Deployment")["spec"]["template"]["spec"][
            "serviceAccountName"], "the operator's account can list what the check lists"
        check = pod["containers"][0]
        assert check["image"] == container(values)["image"]
        assert check["command"][1:] == ["-m", uninstalling.__name__]
        assert (check.get("args") or []) == [f"--namespace={ns}" for ns in namespaces]
        assert job["spec"]["backoffLimit"] == 0
    assert not of_kind(render({"uninstallCheck": {"enabled": False}}), "Job")


def test_one_replica_because_peers_of_one_priority_pause_each_other() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert "replicas" not in values["operator"], "kopf peering is not a hot standby"
    assert "same priority" in (CHART / "values.yaml").read_text()
    assert "--priority=0" in container()["args"]
    assert "--priority=100" in container({"operator": {"peeringPriority": 100}})["args"]


def test_a_namespace_scoped_operator_gets_a_peering_object_in_each_namespace() -> None:
    objs = render(NAMESPACED)
    assert not of_kind(objs, "ClusterKopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in of_kind(objs, "KopfPeering")) == \
        ["research", "team-b"]


def test_crds_match_the_repository_and_install_before_their_objects() -> None:
    objs = render()
    source = {yaml.safe_load(p.read_text())["metadata"]["name"]: yaml.safe_load(p.read_text())
              for p in (ROOT / "crds").glob("*.yaml")}
    rendered = {c["metadata"]["name"]: c for c in of_kind(objs, "CustomResourceDefinition")}
    for name, crd in source.items():
        assert rendered[name]["spec"] == crd["spec"], f"{name}: default values change the schema"
        assert rendered[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= rendered.keys()


def _campaign_schema(values: dict[str, Any]) -> dict[str, Any]:
    crd = next(c for c in of_kind(render(values), "CustomResourceDefinition")
               if c["spec"]["names"]["kind"] == "Campaign")
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def test_values_become_campaign_defaults_the_api_server_fills_in() -> None:
    from aivc.api.spec import apply_defaults

    values = {"sandbox": {"image": {"repository": "registry.local/sandbox", "tag": "7"},
                          "gpuResourceName": "amd.com/gpu", "gpus": 2, "runtimeClassName": "gvisor",
                          "nodeSelector": {"pool": "gpu"},
                          "tolerations": [{"key": "gpu", "operator": "Exists"}]},
              "campaignDefaults": {"maxExperiments": 50, "maxCostUSD": 3.5, "parallelism": 4},
              "git": {"mode": "remote", "branch": "evo",
                      "remote": {"url": "https://git.example.com/c.git"}},
              "llm": {"apiKeySecret": {"name": "anthropic"}}}
    schema = {"type": "object", "properties": _campaign_schema(values)}
    spec = apply_defaults({"dataset": {"clips": ["carphone"]}}, schema)
    sb = spec["sandbox"]
    assert (sb["image"], sb["gpuResourceName"], sb["gpus"]) == ("registry.local/sandbox:7", "amd.com/gpu", 2)
    assert (sb["runtimeClassName"], sb["nodeSelector"]) == ("gvisor", {"pool": "gpu"})
    assert sb["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert spec["budget"]["maxExperiments"] == 50 and spec["budget"]["maxCostUSD"] == 3.5
    assert spec["parallelism"] == 4
    assert spec["git"] == {"repo": "https://git.example.com/c.git", "branch": "evo"}
    assert spec["llm"]["apiKeySecret"] == {"name": "anthropic", "key": "api-key"}
    own = apply_defaults({"dataset": {"clips": ["x"]}, "sandbox": {"gpus": 0}}, schema)
    assert own["sandbox"]["gpus"] == 0, "a Campaign's own value wins"


def test_every_campaign_default_is_valid_for_its_field() -> None:
    import jsonschema

    def walk(node: dict[str, Any], path: str) -> None:
        if "default" in node:
            sub = {k: v for k, v in node.items() if k != "default"}
            jsonschema.validate(node["default"], sub)
        for name, child in (node.get("properties") or {}).items():
            walk(child, f"{path}.{name}")

    for values in VARIANTS.values():
        walk({"type": "object", "properties": _campaign_schema(values)}, "spec")


def test_sandbox_network_policy_denies_all_traffic_in_every_namespace_jobs_run_in() -> None:
    for values, namespaces in (({}, ["aivc-system"]), (NAMESPACED, ["research", "team-b"])):
        policies = of_kind(render(values), "NetworkPolicy")
        assert sorted(p["metadata"]["namespace"] for p in policies) == namespaces
        for policy in policies:
            spec = policy["spec"]
            assert spec["policyTypes"] == ["Ingress", "Egress"]
            assert "ingress" not in spec and "egress" not in spec, "no allow rules at all"
            assert spec["podSelector"]["matchLabels"], "must select only sandbox pods"


def test_network_policy_selects_the_pods_of_the_jobs_the_operator_builds() -> None:
    policy = of_kind(render(), "NetworkPolicy")[0]
    for job in sandbox_jobs().values():
        pod_labels = job["spec"]["template"]["metadata"]["labels"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    operator_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert not policy["spec"]["podSelector"]["matchLabels"].items() <= operator_labels.items()


def test_no_key_or_token_is_ever_a_value() -> None:
    text = (CHART / "values.yaml").read_text().lower()
    for word in ("apikey:", "api_key:", "token: ", "password:"):
        assert word not in text
    secrets = of_kind(render(VARIANTS["remote-git-llm"]), "Secret")
    assert secrets == [], "the chart creates no Secret; it only refers to yours"


def test_git_credentials_come_from_the_named_secret_through_a_read_only_helper() -> None:
    objs = render(VARIANTS["remote-git-llm"])
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GIT_CONFIG_KEY_0"] == "credential.helper"
    assert "/var/run/secrets/aivc/git/token" in env["GIT_CONFIG_VALUE_0"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["git-credentials"]["secret"]["secretName"] == "aivc-git"
    assert "emptyDir" in volumes["data"] and not of_kind(objs, "PersistentVolumeClaim")


def test_default_install_keeps_history_on_a_claim_that_survives_uninstall() -> None:
    objs = render()
    claim = one(objs, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in one(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


@pytest.mark.parametrize("values,message", [
    ({"git": {"mode": "svn"}}, "git.mode must be pvc or remote"),
    ({"git": {"mode": "remote"}}, "git.remote.url must be an https:// URL"),
    ({"persistence": {"enabled": False}}, "persistence.enabled=false would lose"),
    ({"watchNamespaces": ["team-*"]}, "is not a namespace name"),
])
def test_values_that_cannot_work_fail_with_a_message_naming_the_key(values: dict[str, Any],
                                                                    message: str) -> None:
    assert message in render_error(values)


def _rule_groups() -> list[dict[str, Any]]:
    groups = []
    for path in sorted((ROOT / "grafana").glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "groups" in doc and "tests" not in doc:
            groups += doc["groups"]
    return groups


def test_prometheus_rule_carries_every_alert_from_grafana_unchanged() -> None:
    rule = one(render(VARIANTS["monitoring"]), "PrometheusRule")
    assert rule["spec"]["groups"] == _rule_groups()
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert not of_kind(render(), "PrometheusRule") and not of_kind(render(), "ServiceMonitor")


def _boards() -> list[Path]:
    return sorted((ROOT / "grafana").glob("*.json"))


def test_every_grafana_board_ships_as_a_sidecar_configmap() -> None:
    maps = [m for m in of_kind(render(), "ConfigMap")
            if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    shipped = {key: json.loads(text) for m in maps for key, text in m["data"].items()}
    assert shipped == {p.name: json.loads(p.read_text()) for p in _boards()}
    for m in maps:
        assert m["metadata"]["annotations"]["grafana_folder"] == "AIVC"
    off = render({"grafana": {"dashboards": {"enabled": False}}})
    assert not [m for m in of_kind(off, "ConfigMap") if "grafana_dashboard" in m["metadata"]["labels"]]


def test_git_credential_helper_answers_git_with_the_secret_files(tmp_path: Path) -> None:
    import subprocess

    env = {e["name"]: e["value"] for e in container(VARIANTS["remote-git-llm"])["env"]}
    (tmp_path / "username").write_text("aivc-bot\n")
    (tmp_path / "token").write_text("s3cret\n")
    helper = env["GIT_CONFIG_VALUE_0"].replace("/var/run/secrets/aivc/git", str(tmp_path))
    git_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_COUNT": env["GIT_CONFIG_COUNT"],
               "GIT_CONFIG_KEY_0": env["GIT_CONFIG_KEY_0"], "GIT_CONFIG_VALUE_0": helper}
    proc = subprocess.run(["git", "credential", "fill"], input="protocol=https\nhost=git.example.com\n\n",
                          capture_output=True, text=True, env=git_env, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "username=aivc-bot\n" in proc.stdout and "password=s3cret\n" in proc.stdout
