"""A real Prometheus server on loopback: started, queried over its HTTP API, stopped.

The boards' PNGs (`aivc.boards.snapshots`) and the integration tests both need genuine
PromQL evaluation over genuinely scraped samples, so they run Debian's `prometheus` binary
(installed by `make setup`) with a throw-away data directory rather than imitating it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from aivc.errors import AivcError

Series = list[dict[str, Any]]


class PrometheusError(AivcError):
    """Prometheus could not start, or refused a query (the message has its reason)."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: Mapping[str, Sequence[str]], interval: str,
                  rule_files: Sequence[Path] = ()) -> dict[str, Any]:
    """One scrape job per entry of `targets` (job name → host:port list)."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval,
                   "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(addrs)}]}
                           for job, addrs in targets.items()],
    }


class Prometheus:
    """`with Prometheus(tmp, {"aivc-local": ["127.0.0.1:9100"]}) as prom: prom.query(...)`."""

    def __init__(self, data_dir: Path, targets: Mapping[str, Sequence[str]], *,
                 scrape_interval: str = "1s", rule_files: Sequence[Path] = (),
                 binary: str = "prometheus") -> None:
        self.data_dir = Path(data_dir)
        self.targets = dict(targets)
        self.scrape_interval = scrape_interval
        self.rule_files = tuple(rule_files)
        self.binary = binary
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "prometheus.log"

    def start(self, timeout_s: float = 30.0) -> Prometheus:
        exe = shutil.which(self.binary)
        if exe is None:
            raise PrometheusError(f"no {self.binary!r} on PATH; `make setup` installs Debian's "
                                  "prometheus package")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(
            scrape_config(self.targets, self.scrape_interval, self.rule_files)))
        self.port = free_port()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [exe, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise PrometheusError(f"prometheus exited at start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- the HTTP API ----------------------------------------------------------------------

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/PATH; the `data` member, or PrometheusError with Prometheus' error."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> Series:
        """Instant query; a scalar result becomes one series with no labels."""
        data = self.api("query", query=expr, time=at)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> Series:
        return list(self.api("query_range", query=expr, start=start, end=end, step=step)["result"])

    def wait_for(self, expr: str, timeout_s: float = 30.0) -> Series:
        """Poll until `expr` returns a non-empty result (e.g. until a few scrapes landed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.query(expr)
            if found or time.monotonic() > deadline:
                if not found:
                    raise PrometheusError(f"{expr!r} still empty after {timeout_s:.0f} s")
                return found
            time.sleep(0.25)
