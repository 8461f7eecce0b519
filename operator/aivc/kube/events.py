"""Kubernetes Events: how the operator tells people what happened.

What an Event says is decided by the driver core (`aivc.research.driving.Said`): Normal for
progress, Warning for failures and for anything a person must act on. `kubectl describe`
and `kubectl get events` show them; conditions in the status are the lasting record.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

log = logging.getLogger("aivc.operator")


def post(obj: dict[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
    """Queue an Event for `obj` (kopf posts it in the background; failures are only logged)."""
    ref: Any = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                "metadata": {k: obj["metadata"].get(k) for k in ("name", "namespace", "uid")}}
    try:
        kopf.event(kopf.Body(ref), type="Warning" if warning else "Normal", reason=str(reason),
                   message=message[:1000])
    except LookupError:  # outside a running operator (unit tests): log only
        log.info("event %s/%s %s: %s", obj["metadata"].get("name"), reason, message)
