"""`aivc describe experiment|campaign NAME`: everything known about one document, readably."""

from __future__ import annotations

import argparse
from typing import Any

from aivc.commands.options import add_run_dir
from aivc.store.base import DECISION_ANNOTATION, StoreError
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
    lines = describe_experiment(doc, store) if kind == "Experiment" else describe_campaign(doc)
    print("\n".join(lines))
    return 0


def _field(label: str, value: Any, indent: int = 0) -> str:
    return f"{' ' * indent}{label + ':':<18}{'<none>' if value in (None, '') else value}"


def _block(label: str, text: Any, indent: int = 2) -> list[str]:
    if not text:
        return [_field(label, None)]
    return [f"{label}:"] + [" " * indent + line for line in str(text).strip().splitlines()]


def _metrics(m: dict[str, Any]) -> list[str]:
    lines = ["Metrics:"]
    for key, value in m.items():
        if key != "perClip":
            lines.append(_field(key, f"{value:.4f}" if isinstance(value, float) else value, 2))
    for clip, row in (m.get("perClip") or {}).items():
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in row.items() if k != "notScored")
        lines.append(f"  {clip}: {shown}")
        for ref, why in (row.get("notScored") or {}).items():
            lines.append(f"    not scored vs {ref}: {why}")
    return lines


def describe_experiment(doc: dict[str, Any], store: LocalStore) -> list[str]:
    meta, spec, status = doc["metadata"], doc.get("spec") or {}, doc.get("status") or {}
    name = meta["name"]
    att = status.get("attempts") or {}
    lines = [_field("Name", name), _field("Campaign", spec.get("campaign")),
             _field("Sequence", spec.get("sequence")),
             _field("Created", f"{meta.get('creationTimestamp')} ({age(meta.get('creationTimestamp'))} ago)"),
             _field("Phase", status.get("phase")), _field("Verdict", status.get("verdict")),
             _field("Version", status.get("versionName")), _field("Parent", spec.get("parentVersion")),
             _field("Attempts", f"design {att.get('design', 0)}, validation {att.get('validation', 0)}, "
                                f"execution {att.get('execution', 0)}"),
             _field("Cost", f"${float(status.get('costUSD') or 0):.4f}")]
    lines += _block("Hypothesis", spec.get("hypothesis"))
    if spec.get("rationale"):
        lines += _block("Rationale", spec.get("rationale"))
    if status.get("params"):
        lines += ["Parameters:"] + [_field(k, v, 2) for k, v in status["params"].items()]
    if status.get("metrics"):
        lines += _metrics(status["metrics"])
    analysis = status.get("analysis") or {}
    if analysis:
        lines.append(_field("Analysis", analysis.get("reason")))
        if analysis.get("suspicious"):
            lines.append(_field("Suspicious", analysis["suspicious"]))
    err = status.get("lastError")
    if err:
        lines += _block(f"Last error ({err.get('stage')}, {err.get('category')})", err.get("message"))
    if status.get("humanReason"):
        lines.append(_field("Needs a person", status["humanReason"]))
        lines.append(f"  decide: aivc approve {name} --decision retry|skip|adopt|reject [--note ...] "
                     f"--run-dir {store.root}")
    pending = (meta.get("annotations") or {}).get(DECISION_ANNOTATION)
    if pending:
        lines.append(_field("Pending decision", pending))
    if status.get("humanNote"):
        lines.append(_field("Person's note", status["humanNote"]))
    if status.get("lesson"):
        lines += _block("Lesson", status["lesson"])
    if status.get("commit"):
        c = status["commit"]
        lines.append(_field("Commit", f"{c.get('tag')} {str(c.get('sha'))[:12]} on {c.get('branch')} "
                                      f"in {c.get('repo')}"))
    lines += _conditions(status.get("conditions") or [])
    lines += [_field("Source", store.source_path(name)), _field("Results", store.results_path(name))]
    return lines


def _conditions(conditions: list[dict[str, Any]]) -> list[str]:
    if not conditions:
        return []
    return ["Conditions:"] + [f"  {c.get('type')}={c.get('status')} ({c.get('reason')}): "
                              f"{c.get('message', '')}" for c in conditions]


def describe_campaign(doc: dict[str, Any]) -> list[str]:
    meta, spec, status = doc["metadata"], doc.get("spec") or {}, doc.get("status") or {}
    counts = status.get("experiments") or {}
    best = status.get("best") or {}
    budget = spec.get("budget") or {}
    return [
        _field("Name", meta["name"]), _field("Created", meta.get("creationTimestamp")),
        _field("Phase", status.get("phase")), _field("Stop reason", status.get("stopReason")),
        _field("Planner", spec.get("planner")), _field("Base codec", spec.get("baseCodec")),
        _field("Clips", ", ".join((spec.get("dataset") or {}).get("clips") or [])),
        _field("Held out", ", ".join((spec.get("dataset") or {}).get("heldOut") or [])),
        _field("Budget", f"{budget.get('maxExperiments')} experiments, ${budget.get('maxCostUSD')}, "
                         f"deadline {budget.get('deadline') or '-'}, "
                         f"{budget.get('maxDurationMinutes') or '-'} min"),
        _field("Experiments", ", ".join(f"{k} {v}" for k, v in counts.items())),
        _field("Best", f"{best.get('version')} ({best.get('experiment')}): BD-rate {best.get('bdRate')}%, "
                       f"{best.get('kbps')} kbps, PSNR-Y {best.get('psnrY')} dB" if best else None),
        _field("Cost", f"${float(status.get('costUSD') or 0):.4f}"),
        _field("Report", status.get("report")),
    ] + _conditions(status.get("conditions") or [])
