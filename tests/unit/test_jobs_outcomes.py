"""How a finished sandbox Job becomes a phase-machine event (aivc.kube.outcomes)."""

from __future__ import annotations

import json
from typing import Any

from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.kube.jobs import CONTAINER, Stage
from aivc.kube.outcomes import finished, job_done, parse_results
from aivc.research.phases import (
    ExecutionFailed,
    ExecutionFinished,
    ValidationFailed,
    ValidationPassed,
)

SHA = "ab" * 32


def result(errors: list[ErrorRecord] | None = None) -> EvaluationResult:
    levels = [LevelResult("carphone:4", lv, 4, 1000 * (4 - lv), 100.0 / (lv + 1), 40.0 - lv, 41.0,
                          41.0, 40.5, 0.9, 0.5, 0.25) for lv in range(4)]
    return EvaluationResult("evaluate", SHA, 4, clips=[ClipInfo("carphone:4", 176, 144, 4, 29.97)],
                            levels=levels, errors=errors or [], wall_seconds=3.0)


def job(failed: str | None = None) -> dict[str, Any]:
    cond = {"type": "Failed", "status": "True", "reason": failed} if failed else \
        {"type": "Complete", "status": "True"}
    return {"status": {"conditions": [cond], "failed" if failed else "succeeded": 1}}


def pod(message: str | None, reason: str = "Completed", code: int = 0) -> dict[str, Any]:
    terminated = {"exitCode": code, "reason": reason, **({"message": message} if message else {})}
    return {"status": {"containerStatuses": [{"name": CONTAINER, "state": {"terminated": terminated}}]}}


def test_a_job_is_done_when_complete_or_failed() -> None:
    assert job_done(job()) and job_done(job("DeadlineExceeded"))
    assert not job_done({"status": {"active": 1}})


def test_execution_results_come_from_the_log_even_with_progress_lines_around_them() -> None:
    full = result()
    log = "evaluating carphone:4 level 0\n" + full.to_json() + "\ndone\n"
    done = finished(Stage.EXECUTION, job(), pod(full.summary()), log, SHA)
    assert isinstance(done.event, ExecutionFinished) and done.source == "log"
    assert EvaluationResult.from_dict(done.status["results"]).levels == full.levels


def test_without_a_log_the_summary_rows_stand_in_and_say_so() -> None:
    full = result()
    done = finished(Stage.EXECUTION, job(), pod(full.summary()), None, SHA)
    assert isinstance(done.event, ExecutionFinished)
    assert done.status["results_source"] == "terminationMessage"
    stand_in = EvaluationResult.from_dict(done.status["results"])
    keys = ("kbps", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv")
    assert [tuple(getattr(lv, k) for k in keys) for lv in stand_in.levels] == \
        [tuple(round(getattr(r, k), 3 if k != "kbps" else 2) for k in keys) for r in full.levels]
    assert [c.name for c in stand_in.clips] == [c.name for c in full.clips]  # it can be scored
    assert {lv.frames for lv in stand_in.levels} == {c.frames for c in full.clips}


def test_a_candidate_error_in_the_summary_becomes_a_failure_with_its_category() -> None:
    bad = result([ErrorRecord("contract", "decode returned 3 frames, expected 4", stage="decode",
                              clip="carphone:4", level=2)])
    done = finished(Stage.EXECUTION, job(), pod(bad.summary()), bad.to_json(), SHA)
    assert isinstance(done.event, ExecutionFailed) and done.event.category == "contract"
    assert done.event.message.startswith("decode carphone:4 level 2: decode returned 3 frames")
    valid = finished(Stage.VALIDATION, job(), pod(bad.summary()), None, SHA)
    assert isinstance(valid.event, ValidationFailed)


def test_validation_passes_on_an_ok_summary() -> None:
    assert isinstance(finished(Stage.VALIDATION, job(), pod(result().summary()), None, SHA).event,
                      ValidationPassed)


def test_pods_that_die_without_a_summary_get_a_category_from_kubernetes() -> None:
    deadline = finished(Stage.EXECUTION, job("DeadlineExceeded"), pod(None, "Error", 137), None, SHA)
    oom = finished(Stage.EXECUTION, job("BackoffLimitExceeded"), pod(None, "OOMKilled", 137), None, SHA)
    never = finished(Stage.VALIDATION, job("BackoffLimitExceeded"), None, None, SHA)
    assert [d.event.category for d in (deadline, oom, never)] == ["timeout", "memory", "crash"]  # type: ignore[union-attr]


def test_results_for_another_candidate_are_refused() -> None:
    done = finished(Stage.EXECUTION, job(), pod(result().summary()), result().to_json(), "cd" * 32)
    assert isinstance(done.event, ExecutionFailed) and "not the designed" in done.event.message


def test_a_truncated_summary_without_a_log_is_a_failure_not_partial_numbers() -> None:
    summary = json.loads(result().summary()) | {"truncated": True}
    done = finished(Stage.EXECUTION, job(), pod(json.dumps(summary)), None, SHA)
    assert isinstance(done.event, ExecutionFailed) and "results lost" in done.event.message


def test_garbage_logs_parse_to_nothing() -> None:
    assert parse_results("Traceback (most recent call last):\n{ not json") is None
    assert parse_results("") is None


def test_a_step_that_failed_outright_is_named_with_its_own_message() -> None:
    failed = {"status": {
        "initContainerStatuses": [
            {"name": "encode", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "decode", "state": {"terminated": {
                "exitCode": 2, "reason": "Error",
                "message": "aivc.sandbox decode: error: the sandbox cannot put these required "
                           "layers in place (pod mode): landlock"}}}],
        "containerStatuses": [{"name": CONTAINER, "state": {"waiting": {"reason": "PodInitializing"}}}]}}
    done = finished(Stage.EXECUTION, job("BackoffLimitExceeded"), failed, None, SHA)
    assert isinstance(done.event, ExecutionFailed) and done.source == "none"
    assert "decode step" in done.event.message and "landlock" in done.event.message
