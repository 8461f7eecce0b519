"""`aivc describe experiment|campaign NAME`: everything known about one document, readably."""

from __future__ import annotations

import argparse
from typing import Any

from aivc.api.documents import CampaignDoc, Condition, ExperimentDoc, Metrics
from aivc.api.measurements import SCORE_LABEL
from aivc.api.spec import ManifestError
from aivc.commands.options import add_run_dir
from aivc.evaluate.scoring import LABELS
from aivc.store.base import StoreError
from aivc.store.local import LocalStore, open_store
from aivc.store.printing import age, kind_of


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("describe", help="show one experiment or campaign in detail")
    p.add_argument("resource", help="experiment (exp) or campaign (camp)")
    p.add_argument("name")
    add_run_dir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kind = kind_of(args.resource)
    store = open_store(args.run_dir)
    doc = store.get(kind, args.name)
    if doc is None:
        raise StoreError(f"{kind} {args.name} not found in {args.run_dir}")
    if kind == "Experiment":
        lines = describe_experiment(ExperimentDoc.parse(doc), store)
    else:
        lines = describe_campaign(doc)
    print("\n".join(lines))
    return 0


def _field(label: str, value: Any, indent: int = 0) -> str:
    return f"{' ' * indent}{label + ':':<18}{'<none>' if value in (None, '') else value}"


def _block(label: str, text: Any, indent: int = 2) -> list[str]:
    if not text:
        return [_field(label, None)]
    return [f"{label}:"] + [" " * indent + line for line in str(text).strip().splitlines()]


def _metrics(m: Metrics, anchor: str) -> list[str]:
    lines = ["Metrics:"]
    rows = [(f"score: {SCORE_LABEL} vs {anchor}", m.bd_rate)]
    rows += [(f"BD-rate (PSNR-YUV) vs {ref}", v) for ref, v in m.bd_rates.items()]
    rows += [(f"BD-rate vs {anchor} on {LABELS[q]}", v) for q, v in m.by_metric.items()]
    rows += [("BD-rate (PSNR-Y) vs the best", m.luma_vs_best)]
    rows += [(f"{LABELS[q]} vs the best (dB)", v) for q, v in m.chroma_vs_best.items()]
    rows += [("kbps", m.kbps)] + [(LABELS[q], getattr(m.quality, q)) for q in LABELS]
    rows += [("encode fps", m.encode_fps), ("decode fps", m.decode_fps)]
    lines += [_field(label, f"{value:.4f}", 2) for label, value in rows if value is not None]
    for clip, row in m.per_clip.items():
        numbers = [*(f"BD-rate vs {ref}={v:.3f}" for ref, v in row.bd_rate.items()),
                   *(f"{k}={v:.3f}" for k, v in (("kbps", row.kbps),
                                                   *((LABELS[q], getattr(row.quality, q))
                                                     for q in LABELS)) if v is not None)]
        lines.append(f"  {clip}{' (held out)' if row.held_out else ''}: {', '.join(numbers)}")
        for ref, why in row.not_scored.items():
            lines.append(f"    not scored vs {ref}: {why}")
    return lines


def describe_experiment(doc: ExperimentDoc, store: LocalStore) -> list[str]:
    meta, spec, status = doc.meta, doc.spec, doc.status
    att = status.attempts
    lines = [_field("Name", doc.name), _field("Campaign", spec.campaign),
             _field("Sequence", spec.sequence),
             _field("Created", f"{meta.creation_timestamp} ({age(meta.creation_timestamp)} ago)"),
             _field("Phase", status.phase.value),
             _field("Verdict", status.verdict.value if status.verdict else None),
             _field("Version", status.version_name), _field("Parent", spec.parent_version),
             _field("Attempts", f"design {att.design}, validation {att.validation}, "
                                f"execution {att.execution}"),
             _field("Cost", f"${status.cost_usd:.4f}")]
    lines += _block("Hypothesis", spec.hypothesis)
    if spec.rationale:
        lines += _block("Rationale", spec.rationale)
    if status.params:
        lines += ["Parameters:"] + [_field(k, v, 2) for k, v in status.params.items()]
    if status.metrics is not None:
        lines += _metrics(status.metrics, _anchor(store, spec.campaign))
    if status.analysis is not None:
        lines.append(_field("Analysis", status.analysis.reason))
        if status.analysis.suspicious:
            lines.append(_field("Suspicious", status.analysis.suspicious))
    err = status.last_error
    if err is not None:
        lines += _block(f"Last error ({err.stage}, {err.category})", err.message)
    if status.human_reason:
        lines.append(_field("Needs a person", status.human_reason))
        lines.append(f"  decide: aivc approve {doc.name} --decision retry|skip|adopt|reject "
                     f"[--note ...] --run-dir {store.root}")
    if meta.decision:
        lines.append(_field("Pending decision", meta.decision))
    if status.human_note:
        lines.append(_field("Person's note", status.human_note))
    if status.lesson:
        lines += _block("Lesson", status.lesson)
    if status.commit is not None:
        c = status.commit
        lines.append(_field("Commit", f"{c.tag} {c.sha[:12]} on {c.branch} in {c.repo}"))
    lines += _conditions(status.conditions)
    lines += [_field("Source", store.source_path(doc.name)), _field("Results", store.results_path(doc.name))]
    return lines


def _anchor(store: LocalStore, campaign: str) -> str:
    raw = store.get("Campaign", campaign)
    try:
        return CampaignDoc.parse(raw).spec.anchor if raw else "the anchor"
    except ManifestError:
        return "the anchor"


def _conditions(conditions: tuple[Condition, ...]) -> list[str]:
    if not conditions:
        return []
    return ["Conditions:"] + [f"  {c.type}={c.status.value} ({c.reason}): {c.message}"
                              for c in conditions]


def describe_campaign(raw: dict[str, Any]) -> list[str]:
    doc = CampaignDoc.parse(raw)
    spec, status, counts, best = doc.spec, doc.status, doc.status.counts, doc.status.best
    budget = spec.budget
    return [
        _field("Name", doc.name), _field("Created", doc.meta.creation_timestamp),
        _field("Phase", status.phase.value), _field("Stop reason", status.stop_reason),
        _field("Planner", spec.planner), _field("Base codec", spec.base_codec),
        _field("Clips", ", ".join(spec.clips)), _field("Held out", ", ".join(spec.held_out)),
        _field("Budget", f"{budget.max_experiments} experiments, ${budget.max_cost_usd}, "
                         f"deadline {budget.deadline or '-'}, "
                         f"{budget.max_duration_minutes or '-'} min"),
        _field("Experiments", f"total {counts.total}, adopted {counts.adopted}, rejected "
                              f"{counts.rejected}, failed {counts.failed}, waiting for a person "
                              f"{counts.needs_human}, running {counts.running}"),
        _field("Best", f"{best.version} ({best.experiment}): BD-rate {best.bd_rate}%, "
                       f"{best.kbps} kbps, PSNR-YUV {best.psnr_yuv} dB" if best else None),
        _field("Cost", f"${status.cost_usd:.4f}"),
        _field("Report", status.report),
    ] + _conditions(status.conditions)
