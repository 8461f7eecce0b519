"""Real local campaigns (`aivc run --metrics-port`) scraped by a real Prometheus.

The board snapshots and the integration tests need the series a user's Prometheus would
hold after watching `aivc run`: this starts Prometheus scraping every second, then one
`aivc run` process per manifest, waits for them, and keeps Prometheus up for queries.

Each run is the real command line (`aivc.cli.main`) in a fresh process; the only addition
is that the process keeps serving /metrics for `linger_s` after the campaign ends, as a
long-lived process would, so the final values (campaign stopped, last outcome) are scraped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from aivc.boards.promserver import Prometheus, free_port
from aivc.errors import AivcError

LOCAL_JOB = "aivc-local"
_LINGERING_RUN = ("import sys, time\nfrom aivc.cli import main\nrc = main(sys.argv[2:])\n"
                  "time.sleep(float(sys.argv[1]))\nsys.exit(rc)\n")


@dataclass
class LocalRun:
    """One `aivc run` process and where its output goes."""

    manifest: Path
    run_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    returncode: int | None = None

    @property
    def campaign(self) -> str:
        return str(yaml.safe_load(self.manifest.read_text())["metadata"]["name"])

    @property
    def log(self) -> Path:
        return self.run_dir.with_suffix(".log")

    def start(self, linger_s: float, env: Mapping[str, str] | None) -> None:
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        args = ["run", str(self.manifest), "--run-dir", str(self.run_dir),
                "--metrics-port", str(self.port), "--quiet"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _LINGERING_RUN, str(linger_s), *args],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=dict(env or os.environ))

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class ScrapedRuns:
    """`with ScrapedRuns(workdir, [manifest, ...]) as runs: runs.wait(); runs.prom.query(...)`."""

    def __init__(self, workdir: Path, manifests: Sequence[Path], *,
                 extra_targets: Mapping[str, Sequence[str]] | None = None,
                 rule_files: Sequence[Path] = (), linger_s: float = 4.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.runs = [LocalRun(Path(m), self.workdir / "runs" / Path(m).stem) for m in manifests]
        targets = {LOCAL_JOB: [f"127.0.0.1:{r.port}" for r in self.runs], **(extra_targets or {})}
        self.prom = Prometheus(self.workdir / "prometheus", targets, rule_files=rule_files)
        self.linger_s, self.env = linger_s, env
        self.started = self.finished = 0.0
        self.ended: dict[str, float] = {}
        """Per campaign, the last moment its series were fresh: once a process exits its
        series go stale, so instant queries (bar gauges, tables) must be made at or before."""

    @property
    def campaigns(self) -> list[str]:
        return [r.campaign for r in self.runs]

    def __enter__(self) -> ScrapedRuns:
        self.prom.start()
        self.started = time.time()
        try:
            for run in self.runs:
                run.start(self.linger_s, self.env)
        except BaseException:
            self.close()
            raise
        return self

    def wait(self, timeout_s: float = 900.0) -> None:
        """Wait for every run to end and for Prometheus to have scraped its final state."""
        deadline = time.monotonic() + timeout_s
        for run in self.runs:
            assert run.proc is not None
            try:
                run.returncode = run.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AivcError(f"aivc run {run.manifest.name} still running after {timeout_s:.0f} s:"
                                f"\n{run.tail()}") from None
            if run.returncode != 0:
                raise AivcError(f"aivc run {run.manifest.name} exited {run.returncode}:\n{run.tail()}")
        for campaign in self.campaigns:
            sel = f'aivc_campaign_running{{campaign="{campaign}"}}'
            self.prom.wait_for(f"max_over_time({sel}[1h]) > 0 and last_over_time({sel}[1h]) == 0", 30)
            fresh = self.prom.query_range(sel, self.started, time.time(), 1)
            self.ended[campaign] = max(float(t) for s in fresh for t, _ in s["values"]) - 1
        self.finished = max(self.ended.values())

    def close(self) -> None:
        for run in self.runs:
            if run.proc is not None and run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait(timeout=10)
        self.prom.stop()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
