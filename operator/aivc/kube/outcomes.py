"""What a finished sandbox Job says, as a phase-machine event (pure).

Results travel two ways out of a sandbox pod, which has no API token and cannot write
anything back itself (see `aivc.kube`): its measuring container (`jobs.CONTAINER`, which
runs no candidate code) writes the compact summary (< 4 KiB) to its termination message,
and prints the full results JSON on stdout, which the kubelet keeps as the pod log. When an
encode or decode step (an init container) fails outright, the measuring container never
runs; that step's own termination message then says why. The termination message is the authority on pass/fail and names the
candidate (sha); the log carries the numbers. When the log is gone (node lost, log rotated)
the summary's rows stand in, marked as such; when there is neither, the Job's own failure
reason (deadline, OOM kill) becomes the error category.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aivc.api.documents import RunSummary
from aivc.evaluate.results import (
    ERROR_CATEGORIES,
    ClipInfo,
    ErrorRecord,
    EvaluationResult,
    LevelResult,
)
from aivc.kube.jobs import CONTAINER, Stage
from aivc.research.phases import (
    Event,
    ExecutionFailed,
    ExecutionFinished,
    ValidationFailed,
    ValidationPassed,
)


@dataclass(frozen=True)
class Finished:
    """A sandbox stage's result: the event for the machine and the status fields (by their
    `ExperimentStatus` names) to persist."""

    event: Event
    status: dict[str, Any] = field(default_factory=dict)
    source: str = "log"  # log | terminationMessage | none


def job_done(job: dict[str, Any]) -> bool:
    """Complete or Failed (backoffLimit 0, so a failed pod fails the Job)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget") \
                and cond.get("status") == "True":
            return True
    status = job.get("status") or {}
    return bool(status.get("succeeded") or status.get("failed"))


def job_failure(job: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) of a Failed condition, e.g. DeadlineExceeded."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Failed", "FailureTarget") and cond.get("status") == "True":
            return str(cond.get("reason") or "Failed"), str(cond.get("message") or "")
    return None


def newest_pod(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Job's pod that speaks for it: one the cluster did not disrupt (a disrupted pod is
    replaced by the Job controller), then the newest (creation time, then resource version,
    since timestamps have whole seconds)."""
    def key(pod: dict[str, Any]) -> tuple[bool, str, int]:
        meta = pod.get("metadata") or {}
        disrupted = any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
        version = str(meta.get("resourceVersion") or "0")
        return (not disrupted, str(meta.get("creationTimestamp") or ""),
                int(version) if version.isdigit() else 0)
    return max(pods, key=key, default=None)


def terminated(pod: dict[str, Any] | None) -> dict[str, Any]:
    """The measuring container's `state.terminated` ({} when it never finished)."""
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == CONTAINER:
            return dict((cs.get("state") or {}).get("terminated") or {})
    return {}


def failed_step(pod: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """The encode or decode step (init container) that ended with an error, if one did."""
    for cs in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or {}
        if term and term.get("exitCode") not in (0, None):
            return str(cs.get("name")), dict(term)
    return None


def parse_summary(message: str | None) -> dict[str, Any] | None:
    try:
        doc = json.loads(message or "")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "ok" in doc and "rows" in doc else None


def parse_results(log: str | None) -> EvaluationResult | None:
    """The results document in a pod log: the last JSON object that parses as one."""
    if not log:
        return None
    decoder = json.JSONDecoder()
    starts = [i for i, ch in enumerate(log) if ch == "{" and (i == 0 or log[i - 1] == "\n")]
    for start in reversed(starts):
        try:
            doc, _ = decoder.raw_decode(log, start)
            if isinstance(doc, dict) and "mode" in doc and "codec_sha256" in doc:
                return EvaluationResult.from_dict(doc)
        except (ValueError, TypeError, KeyError):
            continue
    return None


def results_from_summary(summary: dict[str, Any]) -> EvaluationResult:
    """The summary as results: rates and every quality, no bytes or times (they read 0)."""
    clips = [ClipInfo(str(n), int(w), int(h), int(f), float(fps))
             for n, w, h, f, fps in summary.get("clips") or []]
    levels = [LevelResult(clip=clips[ci].name if 0 <= ci < len(clips) else "?", level=int(lv),
                          frames=clips[ci].frames if 0 <= ci < len(clips) else 0, bytes=0,
                          kbps=float(k), psnr_y=float(y), psnr_u=float(u), psnr_v=float(v),
                          psnr_yuv=float(yuv), ssim_y=float(s), encode_seconds=0.0,
                          decode_seconds=0.0)
              for ci, lv, k, y, u, v, yuv, s in summary.get("rows") or []]
    return EvaluationResult(mode=str(summary.get("mode", "evaluate")),
                            codec_sha256=str(summary.get("sha", "")), clips=clips, levels=levels,
                            wall_seconds=float(summary.get("wall") or 0.0))


def _error(summary_error: Any) -> ErrorRecord:
    """The summary's first error as a record (a crash when the summary names none)."""
    e = summary_error if isinstance(summary_error, dict) else {}
    category = str(e.get("category") or "crash")
    level = e.get("level")
    return ErrorRecord(category if category in ERROR_CATEGORIES else "crash",
                       str(e.get("message") or "the sandbox reported a failure without a message"),
                       str(e.get("stage") or ""), str(e.get("clip") or ""),
                       level if isinstance(level, int) else -1)


def _failed(stage: Stage, category: str, message: str) -> Event:
    return (ValidationFailed(category, message) if stage is Stage.VALIDATION
            else ExecutionFailed(category, message))


def without_summary(stage: Stage, job: dict[str, Any], pod: dict[str, Any] | None) -> Finished:
    """The pod ended without writing a summary: say why from what Kubernetes saw."""
    term, failure, step = terminated(pod), job_failure(job), failed_step(pod)
    if step is not None and not term:
        name, term = step
        kind = "memory" if term.get("reason") == "OOMKilled" else "crash"
        why = str(term.get("message") or term.get("reason") or "no message")[:800]
        return Finished(_failed(stage, kind, f"the {name} step ended without a result "
                                f"(exit code {term.get('exitCode')}): {why}"),
                        {stage.value: {"ok": False}}, source="none")
    if failure and failure[0] == "DeadlineExceeded":
        event = _failed(stage, "timeout", f"the sandbox Job ran past its deadline ({failure[1]})")
    elif term.get("reason") == "OOMKilled":
        event = _failed(stage, "memory", "the sandbox pod was killed for exceeding its memory limit")
    else:
        why = term.get("reason") or (failure[0] if failure else "no pod ran")
        code = term.get("exitCode")
        event = _failed(stage, "crash", f"the sandbox ended without a result ({why}"
                        + (f", exit code {code})" if code is not None else ")"))
    return Finished(event, {stage.value: RunSummary(False)}, source="none")


def finished(stage: Stage, job: dict[str, Any], pod: dict[str, Any] | None,
             log: str | None, expected_sha: str | None) -> Finished:
    """Turn a finished Job (its pod and log) into the event the phase machine expects."""
    summary = parse_summary(terminated(pod).get("message"))
    if summary is None:
        return without_summary(stage, job, pod)
    sha = str(summary.get("sha") or "")
    if expected_sha and sha and not expected_sha.startswith(sha):
        return Finished(_failed(stage, "crash", f"the sandbox measured candidate {sha}, "
                                f"not the designed {expected_sha[:16]}"), source="none")
    wall = summary.get("wall")
    bits = summary.get("bits")
    report = RunSummary(bool(summary["ok"]), float(wall) if isinstance(wall, (int, float)) else None,
                        bits if stage is Stage.VALIDATION and isinstance(bits, str) and bits else None)
    error = _error(summary.get("error"))
    if stage is Stage.VALIDATION:
        if not summary["ok"]:
            return Finished(ValidationFailed(error.category, error.describe()),
                            {"validation": report}, "terminationMessage")
        return Finished(ValidationPassed(), {"validation": report}, "terminationMessage")
    full = parse_results(log)
    source = "log"
    if full is None or not full.codec_sha256.startswith(sha):
        if summary.get("truncated"):
            return Finished(ExecutionFailed("crash", "results lost: no pod log and a truncated "
                                            "summary"), {"execution": report}, "none")
        full, source = results_from_summary(summary), "terminationMessage"
    status = {"execution": report, "results": full.to_dict(), "results_source": source}
    if not summary["ok"]:
        first = full.first_error() or error  # the full record, when the log has it
        return Finished(ExecutionFailed(first.category, first.describe()), status, source)
    return Finished(ExecutionFinished(), status, source)
