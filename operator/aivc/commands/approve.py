"""`aivc approve NAME --decision retry|skip|adopt|reject`: answer an experiment in NeedsHuman.

The decision is recorded on the experiment as the same annotations the operator reads
(`aivc.dev/decision`, `aivc.dev/note`). A running `aivc run` picks it up on its next loop;
otherwise the next `aivc run` applies it. The note reaches the planner on a retry.
"""

from __future__ import annotations

import argparse

from aivc.commands.options import add_run_dir
from aivc.errors import AivcError
from aivc.research.phases import Decision, Phase
from aivc.store.base import DECISION_ANNOTATION, NOTE_ANNOTATION, StoreError
from aivc.store.local import open_store


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
        exp = store.get("Experiment", args.name)
        if exp is None:
            raise StoreError(f"experiment {args.name} not found in {args.run_dir}")
        status = exp.get("status") or {}
        phase = status.get("phase") or Phase.PENDING.value
        if phase != Phase.NEEDS_HUMAN:
            raise AivcError(f"experiment {args.name} is {phase}, not NeedsHuman: nothing to approve")
        if decision is Decision.ADOPT and not status.get("hasResults"):
            raise AivcError(f"experiment {args.name} has no measured results to adopt; "
                            "use retry, skip or reject")
    annotations = {DECISION_ANNOTATION: decision.value, NOTE_ANNOTATION: args.note or None}
    store.patch("Experiment", args.name, {"metadata": {"annotations": annotations}})
    print(f"experiment {args.name}: decision {decision.value!r} recorded; a running `aivc run` "
          f"applies it on its next loop, otherwise the next `aivc run --run-dir {args.run_dir}` does")
    return 0
