"""A daemon's pause ends when its time is up or when kopf asks it to stop, and leaves no
task behind that ended in TimeoutError (kopf re-raises those as the operator's failure)."""

from __future__ import annotations

import asyncio
import time

from aivc.kube.pausing import SLICE_SECONDS, pause


class Flag:
    """Stands in for `kopf.DaemonStopped`: true once set."""

    def __init__(self) -> None:
        self.set = False

    def __bool__(self) -> bool:
        return self.set


def test_a_pause_lasts_its_time_and_leaves_no_task_behind() -> None:
    async def scenario() -> tuple[float, set[asyncio.Task]]:
        before = asyncio.all_tasks()
        start = time.monotonic()
        await pause(Flag(), 0.3)  # type: ignore[arg-type]
        return time.monotonic() - start, asyncio.all_tasks() - before

    took, left = asyncio.run(scenario())
    assert took >= 0.3 and not left


def test_a_pause_ends_soon_after_the_daemon_is_asked_to_stop() -> None:
    async def scenario() -> float:
        flag = Flag()
        asyncio.get_running_loop().call_later(0.1, setattr, flag, "set", True)
        start = time.monotonic()
        await pause(flag, 30.0)  # type: ignore[arg-type]
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 0.1 + SLICE_SECONDS + 1.0
