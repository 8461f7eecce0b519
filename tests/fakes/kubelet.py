"""Plays the kubelet for the API emulator: each sandbox Job's pod runs as a local process.

`aivc.testing.kubelet.PodRunner` does the Job-controller bookkeeping (Pod per Job, statuses,
termination message, log). This subclass "mounts" the pod's volumes — the codec ConfigMap
is written to a temporary directory, each `emptyDir` is another — and runs the container's
command with those paths swapped in, so the real `python -m aivc.sandbox` measures the real
candidate. `activeDeadlineSeconds` bounds the process; deleting the pod kills it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aivc.testing.kubelet import PodResult, PodRunner


@dataclass
class Run:
    job: str
    stage: str
    command: list[str]
    exit_code: int | None = None
    seconds: float = 0.0


class Kubelet(PodRunner):
    """Start with `async with Kubelet(api, url):`; `runs` lists the processes it ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[Run] = []

    async def run_pod(self, namespace: str, job: dict[str, Any], pod: dict[str, Any]) -> PodResult:
        container = pod["spec"]["containers"][0]
        stage = pod["metadata"]["labels"].get("aivc.dev/stage", "")
        with tempfile.TemporaryDirectory(prefix="kubelet-") as tmp:
            command, env, term = await self._mount(namespace, pod["spec"], container, Path(tmp))
            run = Run(job["metadata"]["name"], stage, command)
            self.runs.append(run)
            code, log, timed_out = await self._execute(run, env, Path(tmp),
                                                       job["spec"].get("activeDeadlineSeconds"))
            message = term.read_text(errors="replace") if term.exists() else ""
        return PodResult(code, log, message, timed_out)

    async def _mount(self, ns: str, spec: dict[str, Any], container: dict[str, Any],
                     root: Path) -> tuple[list[str], dict[str, str], Path]:
        """Materialize the pod's volumes under `root` and rewrite paths in the command."""
        paths: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            target = root / volume["name"]
            target.mkdir()
            if "configMap" in volume:
                cm_name = volume["configMap"]["name"]
                cm = await self.request("GET", f"/api/v1/namespaces/{ns}/configmaps/{cm_name}")
                for item in volume["configMap"].get("items") or []:
                    (target / item["path"]).write_text(cm["data"][item["key"]])
            paths[volume["name"]] = target
        swaps = {m["mountPath"]: str(paths[m["name"]]) for m in container.get("volumeMounts") or []}
        term = root / "termination-log"
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
        return command, env, term

    async def _execute(self, run: Run, env: dict[str, str], root: Path,
                       deadline: int | None) -> tuple[int | None, str, bool]:
        start = time.monotonic()
        cwd = root / "work" if (root / "work").is_dir() else root
        proc = await asyncio.create_subprocess_exec(
            *run.command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=deadline)
        except TimeoutError:
            proc.kill()
            out, _ = await proc.communicate()
            timed_out = True
        except asyncio.CancelledError:  # the pod was deleted
            proc.kill()
            await proc.wait()
            raise
        run.exit_code, run.seconds = proc.returncode, time.monotonic() - start
        return proc.returncode, out.decode(errors="replace"), timed_out
