"""An operator run in a thread (tests, bench) that fails says how, with the traceback kept.

asyncio re-creates a `TimeoutError` that crosses `to_thread` without its traceback; the
failure is therefore wrapped, so a timeout deep inside the operator is still traceable.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import pytest

from aivc.kube import running
from aivc.kube.memo import OperatorMemo


async def _times_out(memo: OperatorMemo, *, stop_flag: Any = None, ready_flag: Any = None) -> None:
    ready_flag.set()
    await asyncio.sleep(0)
    raise TimeoutError


def test_a_failed_operator_is_raised_by_stop_with_where_it_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(running, "run_operator", _times_out)
    runner = running.OperatorThread(memo=None)  # type: ignore[arg-type]

    async def scenario() -> None:
        await asyncio.to_thread(runner.start)
        await asyncio.to_thread(runner.stop)

    with pytest.raises(running.OperatorFailed, match="ended with TimeoutError") as info:
        asyncio.run(scenario())
    cause = info.value.__cause__
    assert isinstance(cause, TimeoutError)
    frames = [frame.name for frame in traceback.extract_tb(cause.__traceback__)]
    assert "_times_out" in frames


def test_an_operator_stopped_cleanly_raises_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def waits(memo: OperatorMemo, *, stop_flag: Any = None, ready_flag: Any = None) -> None:
        ready_flag.set()
        while not stop_flag.is_set():
            await asyncio.sleep(0.01)

    monkeypatch.setattr(running, "run_operator", waits)
    runner = running.OperatorThread(memo=None)  # type: ignore[arg-type]
    runner.start()
    runner.stop()
