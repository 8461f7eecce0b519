"""What `aivc run` shows on the terminal: a progress bar, a live table, the leaderboard.

The bar counts finished experiments against the budget and names the experiment and
phase in flight; each experiment prints one table row as it finishes (or stops for a
person), above the bar. Output goes through tqdm so rows and bar never garble each other.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

from aivc.research import history
from aivc.research.analysis import metric_key

ROW_HEADER = ["EXPERIMENT", "PHASE", "VERSION", "BD-RATE", "KBPS", "PSNR-Y", "VERDICT", "HYPOTHESIS"]
ROW_WIDTHS = [20, 10, 7, 8, 8, 6, 8, 0]


def fixed(cells: list[str], widths: list[int] = ROW_WIDTHS) -> str:
    """One live-table line: rows print one at a time, so widths are fixed, not measured."""
    return "  ".join(c.ljust(w) if w else c for c, w in zip(cells, widths, strict=True)).rstrip()


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


def row(exp: dict[str, Any], width: int = 60) -> list[str]:
    status, spec = history.status_of(exp), exp.get("spec") or {}
    m = status.get("metrics") or {}
    hypothesis = " ".join(str(spec.get("hypothesis") or "").split())
    if len(hypothesis) > width:
        hypothesis = hypothesis[:width - 1] + "…"
    return [exp["metadata"]["name"], str(status.get("phase") or "Pending"),
            str(status.get("versionName") or "-"), _num(m.get("bdRate"), "+.2f"),
            _num(m.get("kbps"), ".1f"), _num(m.get("psnrY"), ".2f"),
            str(status.get("verdict") or "-"), hypothesis]


def leaderboard(experiments: list[dict[str, Any]], anchors: tuple[str, ...],
                top: int = 10) -> tuple[list[str], list[list[str]]]:
    """Adopted versions, best BD-rate first."""
    adopted = [e for e in experiments if history.status_of(e).get("verdict") == "Adopted"]
    adopted.sort(key=lambda e: (_sort_bd(e), -history.sequence_of(e)))
    header = ["RANK", "VERSION", "EXPERIMENT"] + [f"BD-RATE {a.upper()}" for a in anchors] + \
             ["KBPS", "PSNR-Y", "SSIM-Y", "ENC FPS"]
    body = []
    for rank, exp in enumerate(adopted[:top], 1):
        m = history.status_of(exp).get("metrics") or {}
        body.append([str(rank), str(history.status_of(exp).get("versionName") or "-"),
                     exp["metadata"]["name"]]
                    + [_num(m.get(metric_key(a)), "+.2f") for a in anchors]
                    + [_num(m.get("kbps"), ".1f"), _num(m.get("psnrY"), ".2f"),
                       _num(m.get("ssimY"), ".4f"), _num(m.get("encodeFps"), ".1f")])
    return header, body


def _sort_bd(exp: dict[str, Any]) -> float:
    value = (history.status_of(exp).get("metrics") or {}).get("bdRate")
    return float(value) if isinstance(value, (int, float)) else float("inf")


class Display:
    """The live view of one `aivc run`; with `enabled=False` it only prints the summary."""

    def __init__(self, total: int, done: int, enabled: bool = True, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, unit="exp", desc="campaign", disable=not enabled,
                        dynamic_ncols=True, leave=True)
        self._header_shown = False
        self._current, self._levels = "", 0

    def write(self, line: str) -> None:
        if self.enabled:
            tqdm.write(line, file=self.out)

    def rows(self, experiments: list[dict[str, Any]]) -> None:
        """Print table rows, the header first (once): at the start, the finished ones of a
        resumed run; later, each experiment as it finishes or stops for a person."""
        if not self.enabled:
            return
        if not self._header_shown:
            self.write(fixed(ROW_HEADER))
            self._header_shown = True
        for exp in experiments:
            self.write(fixed(row(exp)))

    def phase(self, exp: dict[str, Any], phase: str) -> None:
        self._current = f"{exp['metadata']['name']} {phase}"
        self._levels = 0
        self.bar.set_postfix_str(self._current, refresh=True)

    def level_done(self, message: str) -> None:
        """The sandbox finished one clip × level (called from its worker threads)."""
        self._levels += 1
        self.bar.set_postfix_str(f"{self._current} ({self._levels} clip-levels done)", refresh=True)

    def finished(self, exp: dict[str, Any]) -> None:
        self.rows([exp])
        self.bar.update(1)

    def total(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
