"""Render the Helm chart with the real `helm` binary and check objects against schemas.

Built-in kinds are validated with kubernetes-validate's bundled JSON schemas (strict: an
unknown field is an error) for the oldest Kubernetes the chart supports and the newest
bundled. Kinds defined by a CRD in the chart (Campaign, Experiment, kopf's peerings) are
validated against that CRD's openAPIV3Schema. The Prometheus Operator's kinds have no schema
here (its CRDs are not ours to ship): `SCHEMALESS` names them and why, and the chart tests
check their fields by hand instead.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "aivc"
HELM = ROOT / ".tools" / "bin" / "helm"
KUBE_VERSIONS = ("1.27", kubernetes_validate.latest_version())
"""Chart.yaml's kubeVersion floor, and the newest schemas kubernetes-validate bundles."""
SCHEMALESS = {
    "monitoring.coreos.com/v1": "the Prometheus Operator's CRDs are not bundled with "
                                "kubernetes-validate nor shipped by this chart; the chart "
                                "tests check ServiceMonitor and PrometheusRule fields directly",
}

NAMESPACED = {"watchNamespaces": ["research", "team-b"]}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespace-scoped": NAMESPACED,
    "gpu-less": {"sandbox": {"gpus": 0, "runtimeClassName": "gvisor"}},
    "monitoring": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}},
                               "prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}},
    "remote-git-llm": {"git": {"mode": "remote", "remote": {
                           "url": "https://git.example.com/codecs.git",
                           "credentialsSecret": {"name": "aivc-git"}}},
                       "persistence": {"enabled": False},
                       "llm": {"apiKeySecret": {"name": "anthropic"}}},
}
"""Values the chart is rendered with in the tests: the defaults and the deployments that differ."""


class HelmError(AssertionError):
    """helm exited non-zero; the message carries its stderr."""


def _env(home: str) -> dict[str, str]:
    """helm keeps caches and config under HOME; point them at a throwaway folder."""
    env = dict(os.environ)
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"),
                     ("HELM_DATA_HOME", "data")):
        env[var] = str(Path(home) / sub)
    return env


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.is_file():
        raise HelmError(f"{HELM} is missing: run `make setup` (tools/unpack_kube_tools.py)")
    with tempfile.TemporaryDirectory(prefix="helm-home-") as home:
        proc = subprocess.run([str(HELM), *args], capture_output=True, text=True,
                              env=_env(home), timeout=120, check=False)
    if proc.returncode != 0:
        raise HelmError(f"helm {' '.join(args[:2])} failed:\n{proc.stderr.strip()}")
    return proc


def _with_values(values: dict[str, Any] | None, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="values-") as fh:
        json.dump(values or {}, fh)  # JSON is YAML
        fh.flush()
        return helm(*args, "--values", fh.name)


def lint(values: dict[str, Any] | None = None) -> str:
    """`helm lint --strict` output; raises HelmError on any warning or error."""
    return _with_values(values, "lint", str(CHART), "--strict").stdout


@functools.cache
def _render_cached(values_json: str, namespace: str, release: str) -> str:
    return _with_values(json.loads(values_json), "template", release, str(CHART),
                        "--namespace", namespace, "--include-crds").stdout


def render_text(values: dict[str, Any] | None = None, *, namespace: str = "aivc-system",
                release: str = "aivc") -> str:
    """What `helm template --include-crds` prints (cached per values)."""
    return _render_cached(json.dumps(values or {}, sort_keys=True), namespace, release)


def render(values: dict[str, Any] | None = None, *, namespace: str = "aivc-system",
           release: str = "aivc") -> list[dict[str, Any]]:
    """Every object `helm template --include-crds` produces (fresh copies each call)."""
    text = render_text(values, namespace=namespace, release=release)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_error(values: dict[str, Any]) -> str:
    """helm's error message for values the chart refuses."""
    try:
        _with_values(values, "template", "aivc", str(CHART))
    except HelmError as exc:
        return str(exc)
    raise AssertionError(f"helm rendered values it should refuse: {values}")


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def crd_schemas(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema for every CRD version among `objs`."""
    schemas = {}
    for crd in of_kind(objs, "CustomResourceDefinition"):
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def schema_errors(obj: dict[str, Any], crds: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """Why `obj` does not match its schema, for every Kubernetes version checked."""
    key = (obj["apiVersion"], obj["kind"])
    if key in crds:
        validator = jsonschema.Draft7Validator(crds[key])
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)]
    errors = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"k8s {version}: {path}: {exc.message}")
    return errors


def is_schemaless(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"] in SCHEMALESS
