"""`aivc operator`: run the Kubernetes operator (kopf) for Campaigns and Experiments."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aivc.kube.settings import JobSettings, LoopSettings, OperatorConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("operator", help="reconcile Campaigns and Experiments in a cluster")
    p.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                   help="serve this namespace (repeat for more); default: all namespaces")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--liveness", metavar="URL",
                   help="kopf health endpoint, e.g. http://0.0.0.0:8080/healthz")
    peering = p.add_mutually_exclusive_group()
    peering.add_argument("--peering", default="aivc", metavar="NAME",
                         help="kopf peering object for one active replica (default: aivc)")
    peering.add_argument("--standalone", action="store_true",
                         help="no peering: only ever run a single replica")
    p.add_argument("--priority", type=int, default=0, help="peering priority of this replica")
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/aivc"),
                   help="evolution repositories, reports and the anchor cache (default /var/lib/aivc)")
    p.add_argument("--job-ttl", type=int, default=JobSettings.ttl_seconds,
                   help="seconds finished sandbox Jobs are kept (ttlSecondsAfterFinished)")
    p.add_argument("--poll-seconds", type=float, default=LoopSettings.poll_seconds,
                   help="how often in-flight experiments look at their Jobs again")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace) -> OperatorConfig:
    return OperatorConfig(
        namespaces=tuple(args.namespace), peering=None if args.standalone else args.peering,
        priority=args.priority, metrics_port=args.metrics_port, liveness=args.liveness,
        data_dir=args.data_dir, jobs=JobSettings(ttl_seconds=args.job_ttl),
        loops=LoopSettings(poll_seconds=args.poll_seconds))


def run(args: argparse.Namespace) -> int:
    from aivc.kube.memo import OperatorMemo
    from aivc.kube.running import run_operator

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_operator(OperatorMemo(config_from(args))))
    return 0
