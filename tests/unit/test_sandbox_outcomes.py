"""How the parent turns a child's exit, signal and status lines into an error category,
and how it reads a decoder's planes: trusting nothing the candidate could have written."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.sandbox.__main__ import parse_levels, parse_limits
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.process import HarnessError, classify
from aivc.sandbox.protocol import EXIT_FORBIDDEN, EXIT_REPORTED
from aivc.sandbox.steps import Mismatch, read_planes
from aivc.sandbox.watch import STATUS_CAP_BYTES, Watch

LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10)
READY = {"event": "ready", "layers": ["audit"]}


@contextlib.contextmanager
def replay(events: list[dict[str, Any]], timed_out: bool = False) -> Iterator[Watch]:
    """A real Watch fed these status lines (the parent answers `go` to `ready`)."""
    out_r, out_w = os.pipe()
    st_r, st_w = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    watch = Watch(os.getpid(), out_r, st_r, ours, deadline=0.0, on_ready=lambda w: True)
    try:
        for event in events:
            watch._take(event)
        watch.timed_out = timed_out
        watch.exited_at = watch.end()
        yield watch
    finally:
        watch.close()
        for fd in (out_w, st_w):
            os.close(fd)
        theirs.close()


def exited(code: int) -> int:
    return code << 8


def outcome(events: list[dict[str, Any]], status: int, cpu: float = 0.1,
            timed_out: bool = False) -> tuple[str | None, str]:
    with replay(events, timed_out) as watch:
        run = classify("encode", watch, status, cpu, LIMITS)
    return run.category, run.stage


def test_a_finished_job_is_ok() -> None:
    with replay([READY, {"event": "start", "level": 0}, {"event": "done"}]) as watch:
        run = classify("encode", watch, exited(0), 0.1, LIMITS)
    assert run.ok and run.seconds >= 0


@pytest.mark.parametrize(("status", "cpu", "category"), [
    (signal.SIGXCPU, 5.0, "timeout"), (signal.SIGKILL, 7.0, "timeout"),
    (signal.SIGSYS, 0.1, "forbidden"), (signal.SIGXFSZ, 0.1, "size"),
    (signal.SIGSEGV, 0.1, "crash"), (signal.SIGKILL, 0.1, "crash"),
])
def test_signals_map_to_categories(status: int, cpu: float, category: str) -> None:
    assert outcome([READY, {"event": "start", "level": 0}], status, cpu)[0] == category


def test_the_wall_clock_limit_is_a_timeout_whatever_the_child_said() -> None:
    assert outcome([READY, {"event": "done"}], signal.SIGKILL, timed_out=True)[0] == "timeout"


def test_exiting_zero_without_finishing_is_a_crash_not_a_pass() -> None:
    assert outcome([READY, {"event": "start", "level": 0}], exited(0))[0] == "crash"


def test_a_done_line_forged_before_the_harness_was_ready_does_not_count() -> None:
    events = [{"event": "done"}, READY, {"event": "start", "level": 0}]
    assert outcome(events, exited(0))[0] == "crash"


def test_the_forbidden_exit_code_wins_over_any_forged_line() -> None:
    events: list[dict[str, Any]] = [READY, {"event": "done"},
                                    {"event": "error", "category": "mismatch"}]
    assert outcome(events, exited(EXIT_FORBIDDEN))[0] == "forbidden"


def test_a_reported_error_keeps_its_category_and_stage_unless_it_is_unknown() -> None:
    error = {"event": "error", "category": "memory", "stage": "encode", "message": "MemoryError"}
    assert outcome([READY, error], exited(EXIT_REPORTED)) == ("memory", "encode")
    error["category"] = "bogus"
    assert outcome([READY, error], exited(EXIT_REPORTED))[0] == "crash"


def test_a_child_failing_before_the_codec_loads_is_a_harness_error() -> None:
    with pytest.raises(HarnessError):
        outcome([{"event": "harness", "message": "boom"}], exited(84))


def test_a_harness_line_forged_by_the_candidate_is_just_a_crash() -> None:
    assert outcome([READY, {"event": "harness"}], exited(84))[0] == "crash"


def test_level_times_split_at_each_start_and_the_import_is_counted_apart() -> None:
    with replay([{"event": "confined"}, READY]) as watch:
        assert watch.go_at is not None and watch.confined_at is not None
        watch.starts = {0: watch.go_at + 1.0, 3: watch.go_at + 3.0}
        watch.exited_at = watch.go_at + 6.0
        spent = watch.level_seconds([0, 3])
        imported = watch.import_seconds()
    assert spent == {0: pytest.approx(2.0), 3: pytest.approx(3.0)}
    assert imported == pytest.approx(1.0, abs=0.05)


def test_forged_start_marks_out_of_order_cannot_make_the_total_smaller() -> None:
    with replay([READY]) as watch:
        assert watch.go_at is not None
        watch.starts = {0: watch.go_at + 4.0, 1: watch.go_at + 1.0}
        watch.exited_at = watch.go_at + 6.0
        spent = watch.level_seconds([0, 1])
    assert sum(spent.values()) == pytest.approx(2.0)


def test_a_child_flooding_the_status_channel_is_stopped_without_growing_memory() -> None:
    r, w = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    out_r, out_w = os.pipe()
    watch = Watch(os.getpid(), out_r, r, ours, deadline=0.0, on_ready=lambda _: True)
    try:
        line = b'{"event": "start", "level": 1}\n' * 2048
        for _ in range(STATUS_CAP_BYTES // len(line) + 2):
            os.write(w, line)
            watch._read(r)
        assert watch.flooded and len(watch.status) < STATUS_CAP_BYTES
    finally:
        watch.close()
        for fd in (w, out_w):
            os.close(fd)
        theirs.close()


def _video() -> Video:
    y = np.zeros((3, 8, 12), np.uint8)
    c = np.zeros((3, 4, 6), np.uint8)
    return Video(y, c, c.copy(), 25.0)


def _write(tmp_path: Path, planes: tuple[np.ndarray, ...]) -> None:
    for name, plane in zip(("y.npy", "u.npy", "v.npy"), planes, strict=True):
        np.save(tmp_path / name, plane)


def test_planes_in_the_exact_source_format_are_read_back(tmp_path: Path) -> None:
    ref = _video()
    y = np.asfortranarray(np.arange(3 * 8 * 12, dtype=np.uint8).reshape(3, 8, 12))
    _write(tmp_path, (y, ref.u, ref.v))
    got = read_planes(tmp_path, ref)
    assert np.array_equal(got[0], y) and got[0].flags.c_contiguous


@pytest.mark.parametrize(("change", "words"), [
    (lambda p: p.astype(np.float32), "dtype float32"),
    (lambda p: p[:-1], "decoded 2 frames"),
    (lambda p: p.transpose(0, 2, 1), "shape (3, 12, 8)"),
    (lambda p: p[0], "shape (8, 12)"),
])
def test_wrong_planes_are_a_mismatch_with_a_clear_reason(tmp_path: Path, change: Any,
                                                          words: str) -> None:
    ref = _video()
    _write(tmp_path, (change(ref.y), ref.u, ref.v))
    with pytest.raises(Mismatch, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_planes(tmp_path, ref)


def test_missing_or_truncated_planes_are_a_mismatch(tmp_path: Path) -> None:
    ref = _video()
    with pytest.raises(Mismatch, match="no Y plane"):
        read_planes(tmp_path, ref)
    _write(tmp_path, ref.planes())
    data = (tmp_path / "u.npy").read_bytes()
    (tmp_path / "u.npy").write_bytes(data[:-5])
    with pytest.raises(Mismatch, match="truncated"):
        read_planes(tmp_path, ref)
    (tmp_path / "v.npy").write_bytes(b"not a numpy file")
    (tmp_path / "u.npy").write_bytes(data)
    with pytest.raises(Mismatch, match="unreadable"):
        read_planes(tmp_path, ref)


def test_limits_have_sane_defaults_and_refuse_nonsense() -> None:
    limits = SandboxLimits()
    assert limits.wall_seconds == 120 and limits.max_processes >= 16
    assert SandboxLimits.from_dict({**limits.to_dict(), "unknown": 1}) == limits
    with pytest.raises(ValueError):
        SandboxLimits(wall_seconds=0)
    assert parse_limits(["wall_seconds=3.5", "parallel=1"]) == SandboxLimits(wall_seconds=3.5,
                                                                             parallel=1)
    assert parse_limits(["pod=true", "gpu=1"]) == SandboxLimits(pod=True, gpu=True)
    assert parse_limits([], accept_weaker=True).accept_weaker
    for bad in (["nope=1"], ["pod=maybe"], ["wall_seconds=soon"]):
        with pytest.raises(AivcError):
            parse_limits(bad)
    with pytest.raises(ValueError):
        SandboxLimits(gpu=1)  # type: ignore[arg-type]
    assert parse_levels("0,-1") == [0, -1] and parse_levels(None) is None


def test_an_encode_of_several_levels_gets_their_time_limits_together() -> None:
    scaled = SandboxLimits(wall_seconds=10, cpu_seconds=4).scaled(3)
    assert (scaled.wall_seconds, scaled.cpu_seconds) == (30, 12)
