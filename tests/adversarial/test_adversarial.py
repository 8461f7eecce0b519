"""Hostile candidates, each with the outcome it must get from the sandbox.

Every file in candidates/ states its expected category in a ``# expect:`` header (``ok`` for
codecs that must pass, ``same-as-honest`` for one whose numbers must equal honest.py's) and
may lower limits with ``# limits: NAME=VALUE ...`` so a case stays fast. A ``# unhook`` line
puts `unhook_snippet.py` in front of it: the audit hook is taken out of the interpreter with
numpy alone before the candidate's own code runs, so what stops it is a kernel layer. Each
runs through the public `validate_codec`: import, contract, and encode + two decodes of a
tiny clip. The suite runs as root and, in CI, again as an unprivileged user
(`make adversarial-user`).

Fork bombs run only after a probe has shown the layers that contain them are in place
(NOTES.md: this machine is also CI's). After the suite, nothing may be left: no process
from a sandbox run, no scratch directory, no smuggled file in /tmp or /dev/shm.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aivc.sandbox import SandboxLimits, validate_codec
from aivc.sandbox.limits import GIB
from aivc.sandbox.session import Session
from aivc.sandbox.workspace import Workspace

HERE = Path(__file__).parent
CANDIDATES = sorted((HERE / "candidates").glob("*.py"))
FAKE_KEY = "sk-ant-api03-FAKE-KEY-FOR-THE-SANDBOX-TEST-0123456789"
BASE_LIMITS = {"wall_seconds": 10.0, "cpu_seconds": 2, "address_space_bytes": 1 * GIB,
               "max_file_bytes": 64 << 20}
FORK_BOMBS = {"fork_bomb.py", "fork_exec_unaudited.py"}
SMUGGLED = ("/dev/shm/aivc_smuggled.npz", "/tmp/aivc_smuggled_y.npy")


UNHOOK = HERE / "unhook_snippet.py"


def header(path: Path) -> tuple[str, SandboxLimits]:
    text = path.read_text()
    expect = re.search(r"^# expect: (\S+)$", text, re.M)
    assert expect, f"{path.name} has no '# expect:' header"
    limits: dict[str, float] = dict(BASE_LIMITS)
    extra = re.search(r"^# limits: (.+)$", text, re.M)
    for pair in extra.group(1).split() if extra else []:
        name, value = pair.split("=")
        limits[name] = int(value)
    return expect.group(1), SandboxLimits(**limits)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """All sandbox scratch space of this module goes here, so leftovers can be found."""
    with tempfile.TemporaryDirectory(prefix="aivc-adversarial-") as tmp:
        saved = tempfile.tempdir
        tempfile.tempdir = tmp
        try:
            yield Path(tmp)
        finally:
            tempfile.tempdir = saved
            shutil.rmtree(sources_of(Path(tmp)), ignore_errors=True)
        assert_machine_unharmed(Path(tmp))


def sources_of(scratch: Path) -> Path:
    """Where candidate sources made for this module go (next to the scratch directory)."""
    return scratch.with_name(scratch.name + "-sources")


def assert_machine_unharmed(scratch: Path) -> None:
    leftovers = [pid for pid in _pids() if str(scratch) in _cmdline(pid)]
    assert not leftovers, f"sandbox processes still running: {leftovers}"
    assert not list(scratch.iterdir()), f"scratch left behind: {list(scratch.iterdir())}"
    for path in SMUGGLED:
        assert not os.path.exists(path), f"a candidate left {path}"


@pytest.fixture(scope="module")
def fork_layers_verified(scratch: Path) -> list[str]:
    """A probe child must show the layers that stop a fork bomb before any is run."""
    source = (HERE / "candidates" / "honest.py").read_bytes()
    with Workspace(source) as ws:
        probe = Session(ws, SandboxLimits(), ("numpy",), 2).run("probe", {}, {})
        probe.outputs.close()
    assert probe.ok, probe.message
    layers = probe.seen.layers  # seen by the parent in /proc, not claimed by the child
    assert {"seccomp", "uid", "rlimits", "pidns"} <= set(layers), f"fork bomb not contained: {layers}"
    nproc = SandboxLimits().max_processes
    assert probe.report["uid"] == 65534
    assert probe.report["rlimits"]["RLIMIT_NPROC"] == [nproc, nproc], probe.report["rlimits"]
    return layers


def test_there_are_at_least_twenty_hostile_candidates_and_some_without_the_hook() -> None:
    hostile = [p for p in CANDIDATES if header(p)[0] not in ("ok", "same-as-honest")]
    assert len(hostile) >= 20
    assert sum(bool(re.search(r"^# unhook$", p.read_text(), re.M)) for p in hostile) >= 6


def _param(path: Path) -> object:
    """Candidates that must run into a time limit, or run twice, take several seconds."""
    slow = header(path)[0] in ("timeout", "same-as-honest")
    return pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("path", [_param(p) for p in CANDIDATES])
def test_candidate_gets_its_expected_outcome(path: Path, scratch: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             request: pytest.FixtureRequest) -> None:
    expect, limits = header(path)
    if path.name in FORK_BOMBS:
        request.getfixturevalue("fork_layers_verified")
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    result = validate_codec(source_of(path, sources_of(scratch)), limits)
    assert FAKE_KEY not in result.to_json()
    err = result.first_error()
    got = "ok" if err is None else err.category
    wanted = "ok" if expect == "same-as-honest" else expect
    assert got == wanted, f"{path.name}: expected {wanted}, got {got}: {err}"
    if err is not None:
        assert err.message.strip(), "an error must carry an excerpt for the planner"
    else:
        assert len(result.levels) == min(2, result.levels_declared)
    if expect == "same-as-honest":
        honest = validate_codec(HERE / "candidates" / "honest.py", limits)
        measured = [(r.level, r.bytes, r.kbps, r.psnr_y, r.psnr_yuv, r.ssim_y) for r in result.levels]
        assert measured == [(r.level, r.bytes, r.kbps, r.psnr_y, r.psnr_yuv, r.ssim_y)
                            for r in honest.levels]


def source_of(path: Path, folder: Path) -> Path:
    """The candidate, with the hook-removal snippet in front when it says ``# unhook``."""
    text = path.read_text()
    if not re.search(r"^# unhook$", text, re.M):
        return path
    folder.mkdir(exist_ok=True)
    combined = folder / path.name
    combined.write_text(UNHOOK.read_text() + "\n" + text)
    return combined


def _pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
