"""What every process of one run shares, and the isolation they all ran under.

A `Session` starts children for one codec (`run`) with the run's limits, its workspace and
the libraries to import before the hook, and keeps a record of the layers the parent saw
in each of them: the results say what held in every process (the intersection), and what
was missing in any (the union).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc.sandbox import layers
from aivc.sandbox.limits import SandboxLimits
from aivc.sandbox.process import ChildRun, Outputs, run_child
from aivc.sandbox.workspace import Workspace, Writer, remove


class _Cleanup(Outputs):
    """Outputs whose input and root directories go when they are closed."""

    def __init__(self, fd: int | None, paths: tuple[Path, ...]) -> None:
        super().__init__(fd)
        self.paths = paths

    def close(self) -> None:
        super().close()
        for path in self.paths:
            remove(path)


@dataclass
class Session:
    """What every process of one run shares."""

    workspace: Workspace
    limits: SandboxLimits
    preimports: tuple[str, ...]
    levels: int
    threads: int = 1
    namespaces: bool = True
    """False: do not even try namespaces (to test the layers that hold without them)."""
    _seen: list[str] | None = field(default=None, repr=False)
    _reported: list[str] | None = field(default=None, repr=False)
    _missing: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, mode: str, inputs: dict[str, bytes | Path | Writer], request: dict[str, Any],
            work: int = 1) -> ChildRun:
        """One child; `work` levels of it scale the time limits. Close `run.outputs` after
        reading them: that also removes the child's directories."""
        workdir, rootfs = self.workspace.new_workdir(mode, inputs)
        req = {"mode": mode, "rootfs": str(rootfs), "preimports": list(self.preimports),
               "namespaces": self.namespaces, **request}
        try:
            run = run_child(req, workdir, self.limits.scaled(work), self.threads)
        except BaseException:
            remove(workdir)
            remove(rootfs)
            raise
        run.outputs = _Cleanup(run.outputs.fd, (workdir, rootfs))
        if run.seen.layers or run.seen.reported or run.missing:
            self._record(run)
        return run

    def _record(self, run: ChildRun) -> None:
        with self._lock:
            self._seen = run.seen.layers if self._seen is None else \
                [x for x in self._seen if x in run.seen.layers]
            self._reported = run.seen.reported if self._reported is None else \
                [x for x in self._reported if x in run.seen.reported]
            self._missing.update(run.missing)

    def isolation(self) -> dict[str, Any]:
        """The `EvaluationResult.sandbox` record of every process this session ran."""
        if self._seen is None:
            return {}
        return {"mode": layers.mode(self.limits), "layers": list(self._seen),
                "reported": list(self._reported or []), "missing": sorted(self._missing),
                "weakerAccepted": bool(self._missing) and self.limits.accept_weaker}
