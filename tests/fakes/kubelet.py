"""Plays the kubelet for the API emulator: each sandbox Job's pod runs as local processes.

`aivc.testing.kubelet.PodRunner` does the Job-controller bookkeeping (Pod per Job, statuses,
termination messages, log). This subclass "mounts" the pod's volumes — the codec ConfigMap
is written to a temporary directory, each `emptyDir` is another, shared by the containers
that mount it — and runs the init containers one after the other, then the main container,
each with its own command, environment, working directory and termination log, its mount
paths swapped for those directories. So the real `python -m aivc.sandbox encode`, `decode`
and `measure` measure the real candidate. What it cannot imitate without a container
runtime (read-only mounts, other uids, an empty volume hiding the image's clips) the
manifest tests check instead. `activeDeadlineSeconds` bounds the whole pod; deleting the
pod kills the process that runs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivc.testing.kubelet import PodResult, PodRunner


@dataclass
class Step:
    container: str
    command: list[str]
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass
class Run:
    """One pod: its containers in the order they ran."""

    job: str
    stage: str
    steps: list[Step] = field(default_factory=list)

    @property
    def exit_code(self) -> int | None:
        return self.steps[-1].exit_code if self.steps else None


class Kubelet(PodRunner):
    """Start with `async with Kubelet(api, url):`; `runs` lists the processes it ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[Run] = []

    async def run_pod(self, namespace: str, job: dict[str, Any], pod: dict[str, Any]) -> PodResult:
        stage = pod["metadata"]["labels"].get("aivc.dev/stage", "")
        spec = pod["spec"]
        deadline = time.monotonic() + (job["spec"].get("activeDeadlineSeconds") or 3600)
        steps: list[tuple[str, int | None, str]] = []
        run = Run(job["metadata"]["name"], stage)
        self.runs.append(run)
        with tempfile.TemporaryDirectory(prefix="kubelet-") as tmp:
            volumes = await self._volumes(namespace, spec, Path(tmp))
            for container in spec.get("initContainers") or []:
                code, log, message, timed_out = await self._container(
                    run, container, volumes, Path(tmp), deadline)
                steps.append((container["name"], code, message))
                if code != 0 or timed_out:
                    return PodResult(code, log, "", timed_out, steps, ran=False)
            code, log, message, timed_out = await self._container(
                run, spec["containers"][0], volumes, Path(tmp), deadline)
        return PodResult(code, log, message, timed_out, steps)

    async def _volumes(self, ns: str, spec: dict[str, Any], root: Path) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            target = root / "volumes" / volume["name"]
            target.mkdir(parents=True)
            if "configMap" in volume:
                cm_name = volume["configMap"]["name"]
                cm = await self.request("GET", f"/api/v1/namespaces/{ns}/configmaps/{cm_name}")
                for item in volume["configMap"].get("items") or []:
                    (target / item["path"]).write_text(cm["data"][item["key"]])
            paths[volume["name"]] = target
        return paths

    async def _container(self, run: Run, container: dict[str, Any],
                         volumes: dict[str, Path], root: Path,
                         deadline: float) -> tuple[int | None, str, str, bool]:
        term = root / f"termination-log-{container['name']}"
        swaps = {m["mountPath"]: str(volumes[m["name"]]) for m in container.get("volumeMounts") or []}
        swaps[container.get("terminationMessagePath", "/dev/termination-log")] = str(term)

        def swap(text: str) -> str:
            for mount, local in sorted(swaps.items(), key=lambda kv: -len(kv[0])):
                if text == mount or text.startswith(mount + "/"):
                    return local + text[len(mount):]
            return text

        command = [swap(arg) for arg in container["command"]]
        if command and command[0] == "python":
            command[0] = sys.executable
        env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
        env.update({e["name"]: swap(e["value"]) for e in container.get("env") or []})
        cwd = Path(swap(container.get("workingDir") or "/work"))
        step = Step(container["name"], command)
        run.steps.append(step)
        code, log, timed_out = await self._execute(step, env, cwd if cwd.is_dir() else root,
                                                   deadline - time.monotonic())
        message = term.read_text(errors="replace") if term.exists() else ""
        return code, log, message, timed_out

    async def _execute(self, step: Step, env: dict[str, str], cwd: Path,
                       left: float) -> tuple[int | None, str, bool]:
        start = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *step.command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=max(0.1, left))
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
            timed_out = True
        except asyncio.CancelledError:  # the pod was deleted
            proc.kill()
            await proc.wait()
            raise
        step.exit_code, step.seconds = proc.returncode, time.monotonic() - start
        return proc.returncode, out.decode(errors="replace"), timed_out
