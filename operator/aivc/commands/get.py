"""`aivc get experiments|campaigns`: a kubectl-like table of a run directory's documents."""

from __future__ import annotations

import argparse
import json

import yaml

from aivc.commands.options import add_run_dir
from aivc.store.base import StoreError
from aivc.store.local import open_store
from aivc.store.printing import format_table, kind_of, rows


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("get", help="list experiments or campaigns of a local run")
    p.add_argument("resource", help="experiments (exp) or campaigns (camp)")
    p.add_argument("name", nargs="?", help="show only this one")
    add_run_dir(p)
    p.add_argument("--campaign", help="only experiments of this campaign")
    p.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kind = kind_of(args.resource)
    store = open_store(args.run_dir)
    docs = store.list(kind, campaign=args.campaign)
    if args.name:
        docs = [d for d in docs if d["metadata"]["name"] == args.name]
        if not docs:
            raise StoreError(f"{kind} {args.name} not found in {args.run_dir}")
    if args.output == "json":
        print(json.dumps(docs if not args.name else docs[0], indent=2))
    elif args.output == "yaml":
        print(yaml.safe_dump(docs if not args.name else docs[0], sort_keys=False), end="")
    elif not docs:
        print(f"No {kind.lower()}s found in {args.run_dir}.")
    else:
        print(format_table(*rows(kind, docs)))
    return 0
