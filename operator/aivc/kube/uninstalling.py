"""The chart's pre-delete check: refuse `helm uninstall` while a Campaign runs or an
Experiment is in flight.

kopf keeps its finalizer (`settings.FINALIZER`) on a Campaign while its daemon runs (phase
neither Completed nor Failed) and on an Experiment while it is in flight, so that it can stop
the daemon before the object goes. Uninstall the operator first and nobody removes those
finalizers: `kubectl delete` of such an object then waits forever. This check runs as a
Helm pre-delete hook Job (operator image, the operator's ServiceAccount, which still exists
then) and fails the uninstall with a list of what still holds a finalizer and what to do.
`python -m aivc.kube.uninstalling [--namespace NS ...]`; exit 0 when nothing blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterable
from typing import Any

import kopf

from aivc.kube.client import CAMPAIGNS, EXPERIMENTS, Kind, KubeApi
from aivc.kube.settings import FINALIZER

RECOVERY = ("kubectl -n NAMESPACE patch KIND NAME --type merge "
            "-p '{\"metadata\":{\"finalizers\":null}}'")


def blocking(objects: Iterable[dict[str, Any]]) -> list[str]:
    """`Kind namespace/name` of each object that carries the operator's finalizer."""
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if FINALIZER in (meta.get("finalizers") or []):
            found.append(f"{obj.get('kind', '?')} {meta.get('namespace')}/{meta.get('name')}")
    return sorted(found)


async def in_flight(api: KubeApi, namespaces: Iterable[str]) -> list[str]:
    """What would block deletion once the operator is gone, in the served namespaces
    (every namespace when none are named)."""
    scopes: list[str | None] = list(namespaces) or [None]
    found: list[str] = []
    for kind in (CAMPAIGNS, EXPERIMENTS):
        for namespace in scopes:
            found += blocking(_with_kind(await api.list(kind, namespace), kind))
    return found


def _with_kind(items: list[dict[str, Any]], kind: Kind) -> list[dict[str, Any]]:
    """List items come without `kind`; name it for the message."""
    return [{**item, "kind": kind.kind} for item in items]


def report(found: list[str]) -> str:
    if not found:
        return "no Campaign runs and no Experiment is in flight: the operator may go"
    lines = [f"refusing to uninstall: {len(found)} object(s) carry the operator's finalizer "
             f"({FINALIZER}); without the operator their deletion would wait forever:"]
    lines += [f"  {item}" for item in found]
    lines += ["Either delete them (or let them finish) while the operator runs, then uninstall:",
              "  kubectl -n NAMESPACE delete campaigns,experiments --all",
              "or keep them and uninstall anyway (helm uninstall --no-hooks); to delete them",
              "later, remove the finalizer by hand:",
              f"  {RECOVERY}"]
    return "\n".join(lines)


async def _run(namespaces: list[str]) -> int:
    settings, logger = kopf.OperatorSettings(), logging.getLogger("aivc.uninstall")
    info = (kopf.login_with_service_account(settings=settings, logger=logger)
            or kopf.login_with_kubeconfig(settings=settings, logger=logger))
    if info is None:
        print("no credentials: neither an in-cluster service account nor a kubeconfig", file=sys.stderr)
        return 2
    api = KubeApi(info, user_agent="aivc-uninstall-check")
    try:
        found = await in_flight(api, namespaces)
    finally:
        await api.close()
    print(report(found), file=sys.stderr if found else sys.stdout)
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aivc.kube.uninstalling", description=__doc__)
    parser.add_argument("--namespace", action="append", default=[],
                        help="a namespace the operator serves (repeat; none: every namespace)")
    args = parser.parse_args(argv)
    return asyncio.run(_run(args.namespace))


if __name__ == "__main__":
    raise SystemExit(main())
