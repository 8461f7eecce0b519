"""`aivc operator`: its options become the operator's configuration."""

from __future__ import annotations

from pathlib import Path

import kopf

from aivc.cli import build_parser
from aivc.commands.operator import config_from
from aivc.kube.settings import configure_kopf


def parse(*argv: str) -> object:
    return build_parser().parse_args(["operator", *argv])


def test_defaults_serve_the_whole_cluster_with_peering() -> None:
    config = config_from(parse())  # type: ignore[arg-type]
    assert config.clusterwide and config.peering == "aivc" and config.metrics_port is None
    settings = configure_kopf(kopf.OperatorSettings(), config)
    assert settings.peering.mandatory and settings.peering.clusterwide
    assert settings.persistence.finalizer == "aivc.dev/daemon"


def test_namespaces_standalone_and_metrics_port() -> None:
    config = config_from(parse("-n", "research", "-n", "gpu", "--standalone", "--metrics-port", "9090",  # type: ignore[arg-type]
                               "--data-dir", "/data", "--job-ttl", "60"))
    assert config.namespaces == ("research", "gpu") and config.peering is None
    assert (config.metrics_port, config.data_dir, config.jobs.ttl_seconds) == (9090, Path("/data"), 60)
    settings = configure_kopf(kopf.OperatorSettings(), config)
    assert settings.peering.standalone and not settings.peering.clusterwide
