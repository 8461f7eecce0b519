"""`aivc run CAMPAIGN.yaml`: run a campaign in local mode (or resume it in the same run dir)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aivc import settings
from aivc.api.spec import CampaignSpec, load_manifest_file
from aivc.commands.options import add_run_dir
from aivc.store.printing import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run a campaign locally; run it again to resume")
    p.add_argument("campaign", type=Path, help="Campaign manifest (the same YAML as the CR)")
    add_run_dir(p, "where experiments, sources, results and reports go")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--max-experiments", type=int, help="override spec.budget.maxExperiments")
    p.add_argument("--quiet", action="store_true", help="no progress bar or live table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aivc.research.local import run_campaign

    doc = load_manifest_file(args.campaign)
    if args.max_experiments is not None:
        spec_doc = doc.setdefault("spec", {})
        if isinstance(spec_doc, dict):
            spec_doc.setdefault("budget", {})["maxExperiments"] = args.max_experiments
    spec = CampaignSpec.from_manifest(doc)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    summary = run_campaign(spec, args.run_dir, settings=settings.load(),
                           progress=not args.quiet, metrics_port=args.metrics_port)
    print()
    print(f"campaign {summary.campaign}: {summary.stop_reason or 'stopped'} "
          f"after {summary.wall_seconds / 60:.1f} min")
    counts = summary.counts
    print(f"experiments: {counts.total} total, {counts.adopted} adopted, "
          f"{counts.rejected} rejected, {counts.failed} failed, "
          f"{counts.needs_human} waiting for a person")
    header, body = summary.leaderboard
    if body:
        print("\nleaderboard:")
        print(format_table(header, body))
    for name in summary.needs_human:
        print(f"needs a person: {name} (aivc describe experiment {name} --run-dir {args.run_dir})")
    if summary.report is not None:
        print(f"\nreport: {summary.report}")
    return 0
