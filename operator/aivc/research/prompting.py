"""The LLM planner's prompts, built from a design request within a token budget (pure).

A design request is sent as: the tools and the system prompt (the contract, the sandbox rules
and the score and adoption rule with the campaign's own numbers), then three user blocks —
the yardstick (clips, anchors' rate points, sandbox limits, hardware; cached, it rarely
changes), the parent (its measured rate points per clip and its source; cached, it changes
when another parent is drawn) and the task (why this parent, the held-out standing, other
programs with their code, recent experiments, lessons, the reviewer's notes, the model's own
mistakes in the previous attempt, a person's note).

The budget: tokens are estimated as characters / 3, rounded up — more than Claude's
tokenizers produce for English and Python — and the whole request must fit
`spec.llm.promptBudgetTokens`. When it does not, parts are dropped in this order: the other
programs (oldest failure first, the best's code last), older history lines, the least-seen
lessons, the anchors other than the campaign's. The parent's source and rate points are
never cut; a parent larger than the budget is sent whole, with a warning in the log.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aivc.api.documents import Failure
from aivc.api.spec import CampaignSpec
from aivc.api.types import Verdict
from aivc.llm.templates import render
from aivc.llm.tools import TOOLS
from aivc.research.evidence import (
    AnchorRD,
    ClipFacts,
    LabFacts,
    Program,
    RDPoint,
    RDTable,
    SandboxFacts,
)
from aivc.research.planning import Outcome, ParentCodec

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.0
RECENT = (8, 4, 2)
LESSONS = (None, 12, 6)
MODEL_MISTAKES = frozenset({"planner", "duplicate", "import", "contract", "timeout", "memory",
                            "crash", "mismatch", "forbidden", "size"})
"""Failure categories that are the candidate's (the model's) doing. Anything else — `infra`,
`llm`, `auth`, `unavailable`, an unknown word — is the platform's and never reaches it."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


TOOLS_TOKENS = estimate_tokens(json.dumps(TOOLS))


def _f(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


# ---- the system prompt ----------------------------------------------------------------


def system_text(spec: CampaignSpec) -> str:
    goal = (f"a BD-rate below {spec.target_bd_rate}% against {spec.anchor}"
            if spec.target_bd_rate is not None else f"the lowest BD-rate against {spec.anchor}")
    text = render("system", goal=goal, rule=rule_text(spec).strip())
    if spec.planner == "hybrid":
        text += "\n" + render("tunable", count=spec.search_per_design)
    return text


def rule_text(spec: CampaignSpec) -> str:
    """The score and adoption rule in words, with this campaign's numbers."""
    if spec.held_out:
        held = (f"on each held-out clip ({', '.join(spec.held_out)}) its BD-rate against the "
                f"best is at most +{spec.held_out_tolerance:g} %. Held-out clips guard against "
                "over-fitting to the campaign clips.")
    else:
        held = "(this campaign has no held-out clip, so there is no held-out check)."
    if spec.cascade:
        cascade = ("Evaluation is cascaded: a screening stage (the first campaign clip at its "
                   "first and last level) stops a candidate whose BD-rate against the best is "
                   f"above {spec.screen_stop_above:g} % there; then every campaign clip; the "
                   "held-out clips only for a candidate that would be adopted.")
    else:
        cascade = "Every candidate is measured on every clip at every level."
    return render("rule", anchor=spec.anchor, clips=", ".join(spec.clips),
                  overlap=f"{spec.min_overlap:.0%}", margin=f"{spec.adoption_margin:g}",
                  chroma=f"{spec.max_chroma_loss_db:g}", luma=f"{spec.max_luma_loss_percent:g}",
                  held_out=held, cascade=cascade)


# ---- tables ---------------------------------------------------------------------------------

_HEAD = "  level     kbps  PSNR-YUV  PSNR-Y  PSNR-U  PSNR-V  SSIM-Y"


def rd_lines(points: Sequence[RDPoint]) -> list[str]:
    rows = [f"  {p.level:>5} {p.kbps:>8.1f}  {p.psnr_yuv:>8.2f}  {p.psnr_y:>6.2f}  {p.psnr_u:>6.2f}"
            f"  {p.psnr_v:>6.2f}  {p.ssim_y:>6.4f}" for p in points]
    return [_HEAD, *rows]


def _range(points: Sequence[RDPoint]) -> str:
    if not points:
        return "no points"
    q = [p.psnr_yuv for p in points]
    k = [p.kbps for p in points]
    return f"PSNR-YUV {min(q):.2f}–{max(q):.2f} dB over {min(k):.1f}–{max(k):.1f} kbps"


def clip_line(c: ClipFacts) -> str:
    size = f"{c.width}x{c.height}" if c.width and c.height else "size not measured yet"
    frames = f"{c.frames} frames" if c.frames else "frame count not measured yet"
    fps = f"{c.fps:.3g} fps" if c.fps else "fps not measured yet"
    role = "held out" if c.held_out else "campaign clip"
    return f"- {c.name}: {size}, {frames}, {fps} ({role})"


def anchor_lines(anchors: Sequence[AnchorRD], only: str | None = None) -> str:
    chosen = [a for a in anchors if only is None or a.encoder == only]
    if not chosen:
        return "(no anchor curve is available to the planner yet)"
    out = []
    for a in chosen:
        out += [f"{a.clip}, {a.encoder} ({_range(a.points)}):", *rd_lines(a.points)]
    return "\n".join(out)


def limits_line(s: SandboxFacts | None) -> str:
    if s is None:
        return "(not known)"
    return (f"each encode or decode process may run {s.wall_s:g} s wall-clock and {s.cpu_s} s "
            f"of CPU (all threads together) with {s.memory_bytes / 2**30:.1f} GiB of address "
            f"space; a bitstream may be at most {s.max_bitstream_bytes / 2**20:.0f} MiB and the "
            f"source {s.max_source_bytes / 1024:.0f} KiB. A whole validation run must finish "
            f"within {s.validation_timeout_s} s and a whole evaluation within "
            f"{s.execution_timeout_s} s.")


def campaign_block(lab: LabFacts, spec: CampaignSpec, anchors_only: str | None = None) -> str:
    clips = "\n".join(clip_line(c) for c in lab.clips) or "\n".join(f"- {c}" for c in spec.clips)
    return render("campaign", clips=clips, anchors=anchor_lines(lab.anchors, anchors_only),
                  limits=limits_line(lab.sandbox), hardware=lab.hardware or "(not stated)")


def parent_metrics(p: ParentCodec) -> str:
    return (f"score {_f(p.bd_rate, '+.2f')}% (BD-rate PSNR-YUV vs the anchor), mean "
            f"{_f(p.kbps, '.1f')} kbps at PSNR-YUV {_f(p.psnr_yuv, '.2f')} dB, encodes "
            f"{_f(p.encode_fps, '.1f')} fps")


def parent_block(p: ParentCodec, anchor: str) -> str:
    rd = []
    per_clip = p.metrics.per_clip if p.metrics else {}
    for clip, points in p.rd.items():
        m = per_clip.get(clip)
        score = m.bd_rate.get(anchor) if m else None
        held = " (held out)" if m is not None and m.held_out else ""
        rd += [f"{clip}{held}: score vs {anchor} {_f(score, '+.2f')}%, {_range(points)}",
               *rd_lines(points)]
    return render("parent", version=p.version, metrics=parent_metrics(p),
                  rd="\n".join(rd) or "(not available)", source=p.source)


def held_out_line(spec: CampaignSpec, best: ParentCodec | None, parent: ParentCodec) -> str:
    if not spec.held_out:
        return "this campaign has no held-out clip."
    parts = []
    for who in (best, parent if best is None or parent.version != best.version else None):
        if who is None or who.metrics is None:
            continue
        scores = [f"{clip} {_f(m.bd_rate.get(spec.anchor), '+.2f')}%"
                  for clip, m in who.metrics.per_clip.items() if m.held_out]
        label = "the best" if who is best else "the parent"
        parts.append(f"{label} v{who.version} scores {', '.join(scores) or 'n/a (not measured)'}")
    known = "; ".join(parts) or "no version was measured on the held-out clips yet"
    return (f"{known} against {spec.anchor}. A would-be adoption may not be worse than the best "
            f"there by more than {spec.held_out_tolerance:g} %.")


# ---- history, programs, mistakes --------------------------------------------------------------


def outcome_line(o: Outcome) -> str:
    m = o.metrics
    parts = [f"score {_f(o.bd_rate, '+.2f')}%"]
    if o.bd_rate_vs_best is not None:
        parts.append(f"vs best {_f(o.bd_rate_vs_best, '+.2f')}%")
    if m is not None:
        parts += [f"{_f(m.kbps, '.1f')} kbps", f"PSNR-YUV {_f(m.psnr_yuv, '.2f')}",
                  f"Y vs best {_f(m.luma_vs_best, '+.2f')}%",
                  f"U/V vs best {_f(m.chroma_vs_best.get('psnr_u'), '+.2f')}/"
                  f"{_f(m.chroma_vs_best.get('psnr_v'), '+.2f')} dB",
                  f"enc {_f(m.encode_fps, '.1f')} fps"]
    src = f" from v{o.parent_version}" if o.parent_version is not None else ""
    if o.error is not None:
        what = (f"failed in {o.error.stage}: {o.error.category}"
                if o.error.category in MODEL_MISTAKES else "stopped by a platform fault")
        return f"#{o.sequence}{src} {o.verdict}: {o.hypothesis or '(no hypothesis)'} — {what}"
    reason = f" ({o.reason})" if o.reason else ""
    return (f"#{o.sequence}{src} {o.verdict}: {o.hypothesis or '(no hypothesis)'} "
            f"[{', '.join(parts)}]{reason}")


def history_lines(outcomes: Sequence[Outcome], n: int) -> str:
    return "\n".join(f"- {outcome_line(o)}" for o in list(outcomes)[-n:]) or "(none yet)"


def program_text(p: Program) -> str:
    return render("program", sequence=p.sequence, role=p.role, outcome=p.outcome,
                  hypothesis=p.hypothesis or "(none)", source=p.source.rstrip())


def model_mistakes(failures: Sequence[Failure]) -> list[Failure]:
    """Only what the model (its candidate) did wrong; platform failures are dropped."""
    return [f for f in failures if f.category in MODEL_MISTAKES]


def mistakes_text(failures: Sequence[Failure]) -> str:
    mine = model_mistakes(failures)
    if not mine:
        return "(none)"
    return "\n".join(f"- failed in {f.stage} ({f.category}): {f.message.strip()[:1500]}" for f in mine)


# ---- the design request, within the budget ------------------------------------------------


@dataclass(frozen=True)
class Task:
    """The changing part of a design request, before it is fitted to the budget."""

    sequence: int
    parent: ParentCodec
    why: str
    explore: str
    held_out: str
    programs: tuple[Program, ...]
    history: tuple[Outcome, ...]
    lessons: Callable[[int | None], str]
    """The lessons memory rendered with at most n lessons (None: all)."""
    review: str
    mistakes: str
    note: str


@dataclass(frozen=True)
class Fitted:
    blocks: tuple[str, str, str]
    """The yardstick, the parent and the task."""
    tokens: int
    """Estimated tokens of the whole request (tools and system prompt included)."""
    dropped: tuple[str, ...]


def _task_text(t: Task, programs: int, recent: int, lessons: int | None) -> str:
    shown = "\n\n".join(program_text(p) for p in t.programs[:programs]) or "(none shown)"
    return render("propose", sequence=t.sequence, parent_version=t.parent.version, why=t.why,
                  explore=t.explore, held_out=t.held_out, programs=shown,
                  history=history_lines(t.history, recent), lessons=t.lessons(lessons),
                  review=t.review, mistakes=t.mistakes, note=t.note)


def _variants(t: Task, anchor: str) -> list[tuple[tuple[str, ...], int, int, int | None, str | None]]:
    """(what was dropped, programs, recent, lessons, anchors only), ever smaller."""
    n = len(t.programs)
    out: list[tuple[tuple[str, ...], int, int, int | None, str | None]] = [
        (tuple(f"program #{p.sequence}" for p in t.programs[k:][::-1]), k, RECENT[0], None, None)
        for k in range(n, -1, -1)]
    gone = tuple(f"program #{p.sequence}" for p in t.programs[::-1])
    out += [((*gone, f"history beyond {r}"), 0, r, None, None) for r in RECENT[1:]]
    out += [((*gone, "older history", f"lessons beyond {k}"), 0, RECENT[-1], k, None)
            for k in LESSONS[1:]]
    out.append(((*gone, "older history", "lessons", "other anchors"), 0, RECENT[-1], LESSONS[-1],
                anchor))
    return out


def fit(spec: CampaignSpec, system: str, lab: LabFacts, task: Task, budget: int) -> Fitted:
    """The three user blocks of a design request, trimmed to `budget` estimated tokens."""
    parent = parent_block(task.parent, spec.anchor)
    fixed = TOOLS_TOKENS + estimate_tokens(system) + estimate_tokens(parent)
    fitted = None
    for dropped, programs, recent, lessons, only in _variants(task, spec.anchor):
        yardstick = campaign_block(lab, spec, only)
        text = _task_text(task, programs, recent, lessons)
        fitted = Fitted((yardstick, parent, text),
                        fixed + estimate_tokens(yardstick) + estimate_tokens(text), dropped)
        if fitted.tokens <= budget:
            break
    else:
        log.warning("design request for experiment %d: about %d tokens after every cut, over "
                    "the budget of %d (the parent's source is never cut)", task.sequence,
                    fitted.tokens if fitted else 0, budget)
    assert fitted is not None  # _variants is never empty
    if fitted.dropped:
        log.info("design request for experiment %d trimmed to fit %d tokens: dropped %s",
                 task.sequence, budget, ", ".join(fitted.dropped))
    return fitted


# ---- analysis and review -----------------------------------------------------------------


def rd_comparison(parent: RDTable, candidate: RDTable) -> str:
    """Per clip and level: the parent's and the candidate's kbps and PSNR-YUV side by side."""
    out = []
    for clip in sorted(set(parent) | set(candidate)):
        a, b = list(parent.get(clip, ())), list(candidate.get(clip, ()))
        out.append(f"{clip}:")
        out.append("  level  parent kbps  PSNR-YUV | candidate kbps  PSNR-YUV  PSNR-U  PSNR-V")
        for i in range(max(len(a), len(b))):
            pa = f"{a[i].kbps:>11.1f}  {a[i].psnr_yuv:>8.2f}" if i < len(a) else f"{'-':>11}  {'-':>8}"
            pb = (f"{b[i].kbps:>14.1f}  {b[i].psnr_yuv:>8.2f}  {b[i].psnr_u:>6.2f}  {b[i].psnr_v:>6.2f}"
                  if i < len(b) else f"{'-':>14}")
            out.append(f"  {i:>5}  {pa} | {pb}")
    return "\n".join(out) or "(no rate points recorded)"


def diff_text(before: str | None, after: str | None, max_lines: int = 240) -> str:
    if before is None or after is None:
        return "(the sources were not available)"
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "parent",
                                      "candidate", n=2, lineterm=""))
    if not lines:
        return "(no difference)"
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def trend_lines(outcomes: Sequence[Outcome], n: int = 30) -> str:
    """Every experiment (the last `n`), with the best score so far after it."""
    best = math.inf
    rows = []
    for o in outcomes:
        if o.verdict == Verdict.ADOPTED and o.bd_rate is not None:
            best = min(best, o.bd_rate)
        tag = f" | best so far {best:+.2f}%" if math.isfinite(best) else ""
        rows.append(f"- {outcome_line(o)}{tag}")
    return "\n".join(rows[-n:]) or "(none yet)"
