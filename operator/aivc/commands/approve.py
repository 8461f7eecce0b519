"""`aivc approve NAME --decision retry|skip|adopt|reject`: answer an experiment in NeedsHuman.

The decision is recorded on the experiment as the same annotations the operator reads
(`aivc.dev/decision`, `aivc.dev/note`). A running `aivc run` picks it up on its next loop;
otherwise the next `aivc run` applies it. The note reaches the planner on a retry.
"""

from __future__ import annotations

import argparse

from aivc.api.documents import ExperimentDoc, decision_annotations
from aivc.api.times import now_iso
from aivc.api.types import Decision, Phase
from aivc.commands.options import add_run_dir
from aivc.errors import AivcError
from aivc.store.base import StoreError
from aivc.store.local import open_store

MANAGER = "aivc-approve"
"""The field manager recorded as the writer of the decision, as `kubectl annotate` is."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("approve", help="decide about an experiment that needs a person")
    p.add_argument("name", help="the experiment (see `aivc get experiments`)")
    p.add_argument("--decision", required=True, choices=[d.value for d in Decision],
                   help="retry: redesign it (with your note); skip: drop it; adopt: keep its "
                        "measured results as the next version; reject: record it as rejected")
    p.add_argument("--note", help="advice handed to the planner on retry")
    add_run_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args.run_dir)
    decision = Decision(args.decision)
    with store.locked():
        raw = store.get("Experiment", args.name)
        if raw is None:
            raise StoreError(f"experiment {args.name} not found in {args.run_dir}")
        status = ExperimentDoc.parse(raw).status
        if status.phase is not Phase.NEEDS_HUMAN:
            raise AivcError(f"experiment {args.name} is {status.phase.value}, not NeedsHuman: "
                            "nothing to approve")
        if decision is Decision.ADOPT and not status.has_results:
            raise AivcError(f"experiment {args.name} has no measured results to adopt; "
                            "use retry, skip or reject")
    store.patch("Experiment", args.name,
                decision_annotations(decision, args.note, manager=MANAGER, at=now_iso()))
    print(f"experiment {args.name}: decision {decision.value!r} recorded; a running `aivc run` "
          f"applies it on its next loop, otherwise the next `aivc run --run-dir {args.run_dir}` does")
    return 0
