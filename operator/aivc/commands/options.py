"""Options that several local-mode commands share (not a command itself)."""

from __future__ import annotations

import argparse
from pathlib import Path

from aivc.store.local import DEFAULT_RUN_DIR


def add_run_dir(p: argparse.ArgumentParser, what: str = "the run directory") -> None:
    """The `--run-dir` option every local-mode command shares."""
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                   help=f"{what} (default {DEFAULT_RUN_DIR})")
