"""`aivc report`: (re)write a campaign's markdown report with its PNG charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from aivc.commands.options import add_run_dir
from aivc.errors import AivcError
from aivc.store.local import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the markdown report of a local campaign")
    p.add_argument("campaign", nargs="?", help="campaign name (default: the only one in the run dir)")
    add_run_dir(p)
    p.add_argument("--out", type=Path, help="output folder (default RUN_DIR/reports/CAMPAIGN)")
    p.add_argument("--top", type=int, default=5, help="versions on the leaderboard (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aivc.research.report import write_report

    store = open_store(args.run_dir)
    names = [d["metadata"]["name"] for d in store.list("Campaign")]
    name = args.campaign
    if name is None:
        if len(names) != 1:
            raise AivcError(f"{args.run_dir} holds {len(names)} campaigns ({', '.join(names)}); "
                            "name one")
        name = names[0]
    elif name not in names:
        raise AivcError(f"campaign {name} not found in {args.run_dir} (have: {', '.join(names)})")
    path = write_report(store, name, args.out or args.run_dir / "reports" / name, top=args.top)
    print(path)
    return 0
