"""The results document every evaluation produces (DESIGN.md §4).

One schema serves the in-process evaluator, the sandbox (which prints it on stdout) and the
Kubernetes Job (whose compact `summary()` fits the pod's 4 KiB termination message). It
lives here rather than in `aivc.sandbox` so data flows one way (evaluate → sandbox →
research); `aivc.sandbox` re-exports it.

Error categories: `import`, `contract`, `timeout`, `memory`, `crash`, `mismatch`,
`forbidden` (DESIGN.md §4), plus `size` for a candidate source or bitstream over its cap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1
ERROR_CATEGORIES = ("import", "contract", "timeout", "memory", "crash", "mismatch", "forbidden", "size")
SUMMARY_LIMIT_BYTES = 4096
MESSAGE_LIMIT = 600
"""Error messages handed on are cut to this (head and tail), so they fit the summary."""


@dataclass
class LevelResult:
    """Measured by the trusted side from the bitstream file and the decoded planes."""

    clip: str
    level: int
    frames: int
    bytes: int
    kbps: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ssim_y: float
    encode_seconds: float
    decode_seconds: float


@dataclass
class ErrorRecord:
    """Why a candidate failed, short enough to hand to a planner for repair."""

    category: str
    message: str
    stage: str = ""  # import | validate | encode | decode | check
    clip: str = ""
    level: int = -1

    def __post_init__(self) -> None:
        if self.category not in ERROR_CATEGORIES:
            raise ValueError(f"unknown error category {self.category!r}")
        self.message = excerpt(self.message)

    def describe(self) -> str:
        """Where and what, as the planner and people read it; the same text whether it came
        from a local run or a pod's termination message (which keeps `MESSAGE_LIMIT`)."""
        level = "" if self.level < 0 else f"level {self.level}"
        where = " ".join(p for p in (self.stage, self.clip, level) if p)
        message = excerpt(self.message, MESSAGE_LIMIT)
        return f"{where}: {message}" if where else message


@dataclass
class ClipInfo:
    name: str
    width: int
    height: int
    frames: int
    fps: float


@dataclass
class EvaluationResult:
    """Everything one validation or evaluation run measured."""

    mode: str  # validate | evaluate
    codec_sha256: str
    levels_declared: int = 0
    clips: list[ClipInfo] = field(default_factory=list)
    levels: list[LevelResult] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    wall_seconds: float = 0.0
    schema: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_error(self) -> ErrorRecord | None:
        return self.errors[0] if self.errors else None

    def for_clip(self, clip: str) -> list[LevelResult]:
        return sorted((r for r in self.levels if r.clip == clip), key=lambda r: r.level)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluationResult:
        return cls(
            mode=d["mode"],
            codec_sha256=d["codec_sha256"],
            levels_declared=d.get("levels_declared", 0),
            clips=[ClipInfo(**c) for c in d.get("clips", [])],
            levels=[LevelResult(**r) for r in d.get("levels", [])],
            errors=[ErrorRecord(**e) for e in d.get("errors", [])],
            wall_seconds=d.get("wall_seconds", 0.0),
            schema=d.get("schema", SCHEMA_VERSION),
        )

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        return cls.from_dict(json.loads(text))

    def summary(self) -> str:
        """A compact JSON under 4 KiB: per clip/level kbps, PSNR-Y, SSIM-Y; first error."""
        rows = [[r.clip, r.level, round(r.kbps, 2), round(r.psnr_y, 3), round(r.ssim_y, 4)]
                for r in self.levels]
        err = self.first_error()
        doc: dict[str, Any] = {
            "schema": self.schema, "mode": self.mode, "ok": self.ok,
            "sha": self.codec_sha256[:16], "rows": rows,
            "error": None if err is None else {
                "category": err.category, "stage": err.stage, "clip": err.clip, "level": err.level,
                "message": excerpt(err.message, MESSAGE_LIMIT)},
            "wall": round(self.wall_seconds, 2),
        }
        text = json.dumps(doc, separators=(",", ":"))
        while len(text.encode()) > SUMMARY_LIMIT_BYTES and doc["rows"]:
            doc["rows"] = doc["rows"][:-1]
            doc["truncated"] = True
            text = json.dumps(doc, separators=(",", ":"))
        return text


def excerpt(text: str, limit: int = 1500) -> str:
    """Keep the head and the tail of a long error: the tail usually names the cause."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2 - 10
    return text[:half] + "\n[...]\n" + text[-half:]
