"""Where Campaign and Experiment documents live: one interface for local mode and Kubernetes.

Documents are CR-shaped dicts (`apiVersion`, `kind`, `metadata`, `spec`, `status`), so the
research loop reads and writes the same shape whether it runs against a run directory
(`aivc.store.local`) or the API server (`aivc.kube.store`). Patches are JSON merge patches
(RFC 7386): nested dicts merge, `None` deletes a key.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, Protocol

from aivc.api import API_VERSION
from aivc.api.times import now_iso
from aivc.errors import AivcError

KINDS = ("Campaign", "Experiment")


class StoreError(AivcError):
    """A document is missing, already exists, or cannot be read or written."""


class ExperimentStore(Protocol):
    """Campaigns and experiments as CR-shaped documents, plus codec sources and results."""

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The document, or None when there is none by that name."""
        ...

    def list(self, kind: str, campaign: str | None = None) -> list[dict[str, Any]]:
        """Documents of `kind` sorted by name; experiments optionally of one campaign."""
        ...

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new document (metadata filled in); `StoreError` when the name is taken."""
        ...

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch metadata/spec (not status); returns the new document."""
        ...

    def patch_status(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch `status` (the status subresource in Kubernetes)."""
        ...

    def put_source(self, name: str, source: str) -> None:
        """Keep an experiment's candidate source (large sources stay out of the document)."""
        ...

    def get_source(self, name: str) -> str | None: ...

    def put_results(self, name: str, results: dict[str, Any]) -> None:
        """Keep an experiment's full evaluation results (the EvaluationResult dict)."""
        ...

    def get_results(self, name: str) -> dict[str, Any] | None: ...


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, returning a new object."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def new_document(kind: str, name: str, spec: dict[str, Any], *, owner: dict[str, Any] | None = None,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A CR-shaped document with the metadata an API server would add."""
    if kind not in KINDS:
        raise StoreError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    meta: dict[str, Any] = {"name": name, "creationTimestamp": now_iso(), "uid": str(uuid.uuid4()),
                            "generation": 1}
    if labels:
        meta["labels"] = dict(labels)
    if owner:
        meta["ownerReferences"] = [{
            "apiVersion": API_VERSION, "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"].get("uid", ""), "controller": True,
        }]
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": copy.deepcopy(spec),
            "status": {}}


def experiment_name(campaign: str, sequence: int) -> str:
    """Deterministic names make creation idempotent across restarts."""
    return f"{campaign}-{sequence:04d}"
