"""Assemble and run the operator: a kopf registry with our handlers, settings, memo, login.

`build_registry()` returns a fresh `kopf.OperatorRegistry` (no global decorators), so tests
run several operators — before and after a "restart" — in one process. `run_operator` is
what `aivc operator` awaits; tests await it too, with a memo that points at the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import kopf

from aivc.kube import campaign, experiment
from aivc.kube.memo import OperatorMemo
from aivc.kube.settings import configure_kopf
from aivc.observe import metrics

log = logging.getLogger("aivc.operator")


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    experiment.register(registry)
    campaign.register(registry)

    @kopf.on.login(registry=registry, id="login", errors=kopf.ErrorsMode.TEMPORARY, backoff=5)
    async def login(memo: OperatorMemo, **kwargs: Any) -> kopf.ConnectionInfo | None:
        """kopf's credentials, shared with the operator's own client (`memo.api`).

        Async so that it runs in the operator's event loop, where `memo.api` lives.
        """
        info = memo.credentials(memo=memo, **kwargs)
        if info is not None:
            memo.api.use(info)
        return info

    @kopf.on.startup(registry=registry, id="startup")
    def startup(memo: OperatorMemo, **_: Any) -> None:
        port = memo.config.metrics_port
        if port is not None:
            metrics.serve(port, addr="0.0.0.0", driver="operator")
        log.info("aivc operator serving %s", ", ".join(memo.config.namespaces) or "all namespaces")

    return registry


Flag = asyncio.Event | threading.Event


class OperatorFailed(RuntimeError):
    """The operator in an `OperatorThread` ended with an error (chained as `__cause__`).

    A wrapper, not the error itself: asyncio re-creates a `TimeoutError` that crosses
    `to_thread` without its traceback, and then nobody can tell where it came from.
    """


class OperatorThread:
    """An operator in its own thread and event loop, as if in another process (tests, bench).

    Not merely a task: when kopf stops it cancels every task of its event loop, which must
    not take an emulator or anything else in the caller's loop with it.
    """

    def __init__(self, memo: OperatorMemo) -> None:
        self.memo = memo
        self._stop, self._ready = threading.Event(), threading.Event()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, name="aivc-operator", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(run_operator(self.memo, stop_flag=self._stop, ready_flag=self._ready))
        except BaseException as exc:  # re-raised by stop()
            log.error("the operator ended with an error", exc_info=exc)
            self._failure.append(exc)
            self._ready.set()

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until kopf is ready (blocking: call it via asyncio.to_thread)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the operator did not become ready")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop like a rolling restart would, and re-raise whatever made the operator fail."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the operator did not stop")
        if self._failure:
            exc = self._failure[0]
            raise OperatorFailed(f"the operator ended with {type(exc).__name__}: {exc}") from exc


async def run_operator(memo: OperatorMemo, *, stop_flag: Flag | None = None,
                       ready_flag: Flag | None = None) -> None:
    """Run until `stop_flag` is set (or a signal arrives when run from the command line)."""
    config = memo.config
    settings = configure_kopf(kopf.OperatorSettings(), config)
    try:
        await kopf.operator(
            registry=build_registry(), settings=settings, memo=memo,
            clusterwide=config.clusterwide, namespaces=list(config.namespaces),
            standalone=config.peering is None, peering_name=config.peering,
            priority=config.priority, liveness_endpoint=config.liveness,
            stop_flag=stop_flag, ready_flag=ready_flag)
    finally:
        await memo.api.close()
