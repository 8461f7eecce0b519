"""Debian's real Prometheus for tests, on loopback with a temporary data directory.

    with prometheus(tmp_path, {"aivc-local": ["127.0.0.1:9101"]}) as prom:
        prom.wait_for('up{job="aivc-local"} == 1')
        prom.query("aivc_campaign_running")

A thin test-side wrapper over `aivc.boards.promserver.Prometheus` (which the board
snapshots use too): it fails the test with the set-up hint when the binary is missing,
and shows Prometheus' own log when a test using it fails.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from aivc.boards.promserver import Prometheus, PrometheusError, free_port

__all__ = ["Prometheus", "PrometheusError", "free_port", "prometheus", "require_binaries"]


def require_binaries(*names: str) -> None:
    """Fail (not skip) without Prometheus: `make setup` installs it, so CI always has it."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make setup` (Debian package prometheus)")


@contextlib.contextmanager
def prometheus(tmp_path: Path, targets: Mapping[str, Sequence[str]], *,
               scrape_interval: str = "1s", rule_files: Sequence[Path] = ()) -> Iterator[Prometheus]:
    require_binaries("prometheus")
    prom = Prometheus(tmp_path / "prometheus", targets, scrape_interval=scrape_interval,
                      rule_files=rule_files)
    prom.start()
    try:
        yield prom
    except BaseException:
        print(f"--- prometheus log ({prom.log_path}) ---\n{prom.log_tail(30)}")
        raise
    finally:
        prom.stop()
