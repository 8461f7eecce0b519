"""A daemon's pause between ticks that ends early when kopf asks the daemon to stop.

Not kopf's `await stopped.wait(seconds)`: kopf runs each such wait as a task of its own that
ends in `TimeoutError` whenever the time is up. When the operator stops at that moment,
kopf collects every task of its loop and re-raises that `TimeoutError` as the operator's
own failure (seen in CI: an operator stopped cleanly, then reported as failed). Sleeping in
short slices and looking at the flag between them leaves no such task behind.
"""

from __future__ import annotations

import asyncio

import kopf

SLICE_SECONDS = 0.2
"""How late at most a pausing daemon notices that it should stop."""


async def pause(stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Wait `seconds`, or until `stopped` is set, whichever comes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stopped:
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(left, SLICE_SECONDS))
