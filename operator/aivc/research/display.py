"""What `aivc run` shows on the terminal: a progress bar, a live table, the leaderboard.

The bar counts finished experiments against the budget and names the experiment and
phase in flight; each experiment prints one table row as it finishes (or stops for a
person), above the bar. Output goes through tqdm so rows and bar never garble each other.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from tqdm import tqdm

from aivc.api.documents import ExperimentDoc, Metrics
from aivc.research import archive

ROW_HEADER = ["EXPERIMENT", "PHASE", "VERSION", "BD-RATE", "KBPS", "PSNR-YUV", "VERDICT", "HYPOTHESIS"]
ROW_WIDTHS = [20, 10, 7, 8, 8, 8, 8, 0]
LEGEND = "BD-RATE: the score, BD-rate (PSNR-YUV 6:1:1) in percent vs the anchor; lower is better"


def fixed(cells: list[str], widths: list[int] = ROW_WIDTHS) -> str:
    """One live-table line: rows print one at a time, so widths are fixed, not measured."""
    return "  ".join(c.ljust(w) if w else c for c, w in zip(cells, widths, strict=True)).rstrip()


def num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def one_line(text: str | None, width: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def row(exp: ExperimentDoc, width: int = 60) -> list[str]:
    status = exp.status
    m = status.metrics or Metrics()
    return [exp.name, status.phase.value, status.version_name or "-", num(m.bd_rate, "+.2f"),
            num(m.kbps, ".1f"), num(m.psnr_yuv, ".2f"),
            status.verdict.value if status.verdict else "-", one_line(exp.spec.hypothesis, width)]


def leaderboard(experiments: Sequence[ExperimentDoc], anchors: tuple[str, ...],
                top: int = 10) -> tuple[list[str], list[list[str]]]:
    """Adopted versions, best score first."""
    adopted = sorted(archive.adopted(experiments), key=lambda e: (archive.score_key(e)[0], -e.sequence))
    header = ["RANK", "VERSION", "EXPERIMENT"] + [f"BD-RATE {a.upper()}" for a in anchors] + \
             ["KBPS", "PSNR-YUV", "PSNR-Y", "PSNR-U", "PSNR-V", "SSIM-Y", "ENC FPS"]
    body = []
    for rank, exp in enumerate(adopted[:top], 1):
        m = exp.status.metrics or Metrics()
        body.append([str(rank), exp.status.version_name or "-", exp.name]
                    + [num(m.bd_rates.get(a), "+.2f") for a in anchors]
                    + [num(m.kbps, ".1f"), num(m.psnr_yuv, ".2f"), num(m.psnr_y, ".2f"),
                       num(m.quality.psnr_u, ".2f"), num(m.quality.psnr_v, ".2f"),
                       num(m.ssim_y, ".4f"), num(m.encode_fps, ".1f")])
    return header, body


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

    def rows(self, experiments: Sequence[ExperimentDoc]) -> None:
        """Print table rows, the header first (once): at the start, the finished ones of a
        resumed run; later, each experiment as it finishes or stops for a person."""
        if not self.enabled:
            return
        if not self._header_shown:
            self.write(LEGEND)
            self.write(fixed(ROW_HEADER))
            self._header_shown = True
        for exp in experiments:
            self.write(fixed(row(exp)))

    def resume(self, done: int) -> None:
        """A resumed run: the finished experiments count from the start."""
        self.bar.n = done
        self.bar.refresh()

    def phase(self, name: str, phase: str) -> None:
        self._current = f"{name} {phase}"
        self._levels = 0
        self.bar.set_postfix_str(self._current, refresh=True)

    def level_done(self, message: str) -> None:
        """The sandbox finished one clip × level (called from its worker threads)."""
        self._levels += 1
        self.bar.set_postfix_str(f"{self._current} ({self._levels} clip-levels done)", refresh=True)

    def finished(self, exp: ExperimentDoc) -> None:
        self.rows([exp])
        self.bar.update(1)

    def total(self, total: int) -> None:
        self.bar.total = total
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
