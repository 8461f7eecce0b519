"""The campaign told as a story: what was tried, what worked, what did not, and why.

Plain markdown lines built from the Experiment documents, for the report and for anyone
reading a run directory after the fact.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aivc.research import history


def _one_line(text: Any, width: int = 160) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    return format(value, spec) + unit if isinstance(value, (int, float)) else "n/a"


def chapter(exp: dict[str, Any]) -> str:
    """One experiment as one bullet: hypothesis, then what came of it."""
    status, spec = history.status_of(exp), exp.get("spec") or {}
    m = status.get("metrics") or {}
    seq = history.sequence_of(exp)
    parent = spec.get("parentVersion")
    head = f"- **#{seq}**" + (f" (from {parent})" if parent else "") + \
        f": {_one_line(spec.get('hypothesis') or '(no design yet)')}"
    verdict, phase = status.get("verdict"), status.get("phase")
    reason = _one_line((status.get("analysis") or {}).get("reason"), 200)
    numbers = f"BD-rate {_fmt(m.get('bdRate'), '+.2f', '%')}, {_fmt(m.get('kbps'), '.1f')} kbps, " \
              f"PSNR-Y {_fmt(m.get('psnrY'), '.2f')} dB"
    if verdict == "Adopted":
        tail = f"→ adopted as **{status.get('versionName')}** ({numbers}). {reason}"
    elif verdict == "Rejected":
        tail = f"→ rejected ({numbers}). {reason}"
    elif phase == "NeedsHuman":
        tail = f"→ waiting for a person: {_one_line(status.get('humanReason'), 200)}"
    elif phase == "Failed":
        err = status.get("lastError") or {}
        tail = f"→ skipped after failing in {err.get('stage', '?')} ({err.get('category', '?')}): " \
               f"{_one_line(err.get('message'), 160)}"
    else:
        tail = f"→ in progress ({phase})"
    failed = status.get("failedDesigns") or []
    if failed:
        kinds = ", ".join(sorted({f"{(f.get('error') or {}).get('stage', '?')} "
                                  f"{(f.get('error') or {}).get('category', '?')}" for f in failed}))
        tail += f" (after {len(failed)} failed design{'s' if len(failed) > 1 else ''}: {kinds})"
    lesson = str(status.get("lesson") or "")
    if lesson.startswith(str(spec.get("hypothesis") or "\0")):
        lesson = ""  # a lesson that only restates the change and its numbers adds nothing here
    return f"{head} {tail}" + (f" *Lesson: {_one_line(lesson, 200)}*" if lesson else "")


def story_lines(experiments: list[dict[str, Any]]) -> list[str]:
    """The chronology, then a short account of what worked and what did not."""
    ordered = sorted(experiments, key=history.sequence_of)
    if not ordered:
        return ["No experiment ran."]
    lines = [chapter(e) for e in ordered]
    lines += ["", "### What worked", ""] + (_worked(ordered) or ["Nothing beat the baseline."])
    lines += ["", "### What did not", ""] + (_did_not(ordered) or ["Every candidate was adopted."])
    return lines


def _worked(experiments: list[dict[str, Any]]) -> list[str]:
    out, previous = [], None
    for exp in experiments:
        status = history.status_of(exp)
        if status.get("verdict") != "Adopted":
            continue
        bd = (status.get("metrics") or {}).get("bdRate")
        gain = ""
        if isinstance(bd, (int, float)) and isinstance(previous, (int, float)):
            gain = f" ({bd - previous:+.2f} points)"
        hyp = _one_line((exp.get("spec") or {}).get("hypothesis"), 120)
        out.append(f"- {status.get('versionName')}: {hyp}{gain}")
        previous = bd if isinstance(bd, (int, float)) else previous
    return out


def _did_not(experiments: list[dict[str, Any]]) -> list[str]:
    rejected = [e for e in experiments if history.status_of(e).get("verdict") == "Rejected"]
    out = []
    for exp in rejected:
        m = history.status_of(exp).get("metrics") or {}
        vs = m.get("bdRateVsBest")
        out.append(f"- #{history.sequence_of(exp)}: {_one_line((exp.get('spec') or {}).get('hypothesis'), 110)}"
                   f" ({_fmt(vs, '+.2f', '%')} vs the best then)")
    errors = Counter(f"{(history.status_of(e).get('lastError') or {}).get('stage', '?')} "
                     f"{(history.status_of(e).get('lastError') or {}).get('category', '?')}"
                     for e in experiments if history.status_of(e).get("lastError"))
    if errors:
        out.append("- Failures seen along the way (including repaired ones): "
                   + ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    return out
