"""The campaign told as a story: what was tried, what worked, what did not, and why.

Plain markdown lines built from the Experiment documents, for the report and for anyone
reading a run directory after the fact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from aivc.api.documents import ExperimentDoc, Metrics
from aivc.api.types import Phase, Verdict
from aivc.llm.lessons import REVIEW_TAG
from aivc.research.archive import score_key
from aivc.research.display import one_line


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + unit


def _best_before(experiments: Sequence[ExperimentDoc], sequence: int) -> str | None:
    """The best adopted version among the experiments before `sequence` (by score)."""
    earlier = [e for e in experiments if e.status.adopted and e.sequence < sequence]
    if not earlier:
        return None
    return min(earlier, key=score_key).status.version_name


def _origin(exp: ExperimentDoc, experiments: Sequence[ExperimentDoc]) -> str:
    """Which version it was built on, and whether that was the best one then."""
    parent = exp.spec.parent_version
    if not parent:
        return ""
    best = _best_before(experiments, exp.sequence)
    if best is None or best == parent:
        return f" (from {parent}, the best then)" if best else f" (from {parent})"
    return f" (from {parent}; the best then was {best})"


def chapter(exp: ExperimentDoc, experiments: Sequence[ExperimentDoc] = ()) -> str:
    """One experiment as one bullet: which version it came from, its hypothesis, then what
    came of it."""
    status, spec = exp.status, exp.spec
    m = status.metrics or Metrics()
    head = f"- **#{exp.sequence}**" + _origin(exp, experiments) \
        + f": {one_line(spec.hypothesis or '(no design yet)', 160)}"
    reason = one_line(status.analysis.reason if status.analysis else "", 200)
    numbers = f"BD-rate (PSNR-YUV) {_fmt(m.bd_rate, '+.2f', '%')}, {_fmt(m.kbps, '.1f')} kbps, " \
              f"PSNR-YUV {_fmt(m.psnr_yuv, '.2f')} dB"
    if status.verdict is Verdict.ADOPTED:
        tail = f"→ adopted as **{status.version_name}** ({numbers}). {reason}"
    elif status.verdict is Verdict.REJECTED:
        tail = f"→ rejected ({numbers}). {reason}"
    elif status.phase is Phase.NEEDS_HUMAN:
        tail = f"→ waiting for a person: {one_line(status.human_reason, 200)}"
    elif status.phase is Phase.FAILED:
        err = status.last_error
        tail = f"→ skipped after failing in {err.stage if err else '?'} " \
               f"({err.category if err else '?'}): {one_line(err.message if err else '', 160)}"
    else:
        tail = f"→ in progress ({status.phase.value})"
    failed = status.failed_designs
    if failed:
        kinds = ", ".join(sorted({f"{f.error.stage if f.error else '?'} "
                                  f"{f.error.category if f.error else '?'}" for f in failed}))
        tail += f" (after {len(failed)} failed design{'s' if len(failed) > 1 else ''}: {kinds})"
    lesson, review = _lesson_and_review(status.lesson or "")
    if spec.hypothesis and lesson.startswith(spec.hypothesis):
        lesson = ""  # a lesson that only restates the change and its numbers adds nothing here
    return f"{head} {tail}" + (f" *Lesson: {one_line(lesson, 200)}*" if lesson else "") \
        + (f" *Review: {one_line(review, 200)}*" if review else "")


def _lesson_and_review(text: str) -> tuple[str, str]:
    """A stored lesson may carry the review it triggered on a line of its own."""
    lesson = [ln for ln in text.splitlines() if not ln.startswith(REVIEW_TAG)]
    review = [ln[len(REVIEW_TAG):].strip() for ln in text.splitlines() if ln.startswith(REVIEW_TAG)]
    return " ".join(lesson), " ".join(review)


def story_lines(experiments: Sequence[ExperimentDoc]) -> list[str]:
    """The chronology, then a short account of what worked and what did not."""
    ordered = sorted(experiments, key=lambda e: e.sequence)
    if not ordered:
        return ["No experiment ran."]
    lines = [chapter(e, ordered) for e in ordered]
    lines += ["", "### What worked", ""] + (_worked(ordered) or ["Nothing beat the baseline."])
    lines += ["", "### What did not", ""] + (_did_not(ordered) or ["Every candidate was adopted."])
    return lines


def _worked(experiments: list[ExperimentDoc]) -> list[str]:
    out: list[str] = []
    previous: float | None = None
    for exp in experiments:
        if exp.status.verdict is not Verdict.ADOPTED:
            continue
        bd = (exp.status.metrics or Metrics()).bd_rate
        gain = f" ({bd - previous:+.2f} points)" if bd is not None and previous is not None else ""
        out.append(f"- {exp.status.version_name}: {one_line(exp.spec.hypothesis, 120)}{gain}")
        previous = bd if bd is not None else previous
    return out


def _did_not(experiments: list[ExperimentDoc]) -> list[str]:
    out = []
    for exp in experiments:
        if exp.status.verdict is Verdict.REJECTED:
            vs = (exp.status.metrics or Metrics()).bd_rate_vs_best
            out.append(f"- #{exp.sequence}: {one_line(exp.spec.hypothesis, 110)}"
                       f" ({_fmt(vs, '+.2f', '%')} vs the best then)")
    errors = Counter(f"{e.status.last_error.stage} {e.status.last_error.category}"
                     for e in experiments if e.status.last_error is not None)
    if errors:
        out.append("- Failures seen along the way (including repaired ones): "
                   + ", ".join(f"{k} ×{n}" for k, n in errors.most_common()))
    return out
