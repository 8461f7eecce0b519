"""A killed harness takes its candidates with it: nothing keeps running after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

CANDIDATES = Path(__file__).resolve().parents[1] / "adversarial" / "candidates"


def child_pids_of_sandbox(parent: int) -> list[int]:
    """Sandbox child processes started by `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"aivc.sandbox.child" in cmd and ppid == parent:
            found.append(int(entry.name))
    return found


def test_candidate_dies_when_the_harness_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from aivc.sandbox import SandboxLimits, validate_codec
        validate_codec(Path({str(CANDIDATES / 'sleeper.py')!r}),
                       SandboxLimits(wall_seconds=300, cpu_seconds=300))
    """)
    harness = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not child_pids_of_sandbox(harness.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    children = child_pids_of_sandbox(harness.pid)
    assert children, "the sleeping candidate never started"
    time.sleep(1.0)  # let the child finish confining itself (the death signal is set there)
    os.kill(harness.pid, signal.SIGKILL)
    harness.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in children):
        assert time.monotonic() < deadline, f"candidate processes {children} outlived the harness"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
